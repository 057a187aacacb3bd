"""rate_limit_event: limits shared by every server process (POST /besoins per address)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 06:00:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_limit_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("rate_limit_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rate_limit_event_at"), ["at"], unique=False)
        batch_op.create_index(
            "ix_rate_limit_event_name_key_at", ["name", "key", "at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("rate_limit_event", schema=None) as batch_op:
        batch_op.drop_index("ix_rate_limit_event_name_key_at")
        batch_op.drop_index(batch_op.f("ix_rate_limit_event_at"))

    op.drop_table("rate_limit_event")
