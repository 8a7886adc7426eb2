"""A conversation's image support becomes a column of its own (it was a key of `sampling`).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "conversations",
        sa.Column("vision", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    conversations = sa.table(
        "conversations",
        sa.column("id", sa.String),
        sa.column("sampling", sa.JSON),
        sa.column("vision", sa.Boolean),
    )
    connection = op.get_bind()
    for row in connection.execute(sa.select(conversations.c.id, conversations.c.sampling)):
        sampling = dict(row.sampling or {})
        if "vision" in sampling:
            vision = bool(sampling.pop("vision"))
            connection.execute(
                conversations.update()
                .where(conversations.c.id == row.id)
                .values(vision=vision, sampling=sampling)
            )


def downgrade() -> None:
    op.drop_column("conversations", "vision")
