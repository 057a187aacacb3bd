"""glossary_entry: the field's glossary (acronyms and words of equal meaning)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 09:00:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "glossary_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("term", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("term_key", sqlmodel.sql.sqltypes.AutoString(length=240), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("expansions", sa.JSON(), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("term_key"),
    )


def downgrade() -> None:
    op.drop_table("glossary_entry")
