"""writeup.kind, writeup.figures, writeup.interview_requested, attachment.title and
attachment.pending (issue 14)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 12:00:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("writeup", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "kind",
                sqlmodel.sql.sqltypes.AutoString(length=16),
                nullable=False,
                server_default="fiche",
            )
        )
        batch_op.add_column(
            sa.Column("figures", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )
        batch_op.add_column(
            sa.Column(
                "interview_requested", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
    with op.batch_alter_table("attachment", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True)
        )
        batch_op.add_column(
            sa.Column("pending", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("attachment", schema=None) as batch_op:
        batch_op.drop_column("pending")
        batch_op.drop_column("title")
    with op.batch_alter_table("writeup", schema=None) as batch_op:
        batch_op.drop_column("interview_requested")
        batch_op.drop_column("figures")
        batch_op.drop_column("kind")
