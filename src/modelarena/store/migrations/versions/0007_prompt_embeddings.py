"""Each blind battle's prompt embedded once per embedding model, for the leaderboard of a
topic: the vector as float32 bytes, keyed by conversation and model.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "prompt_embeddings",
        sa.Column(
            "conversation_id",
            sa.String(length=32),
            sa.ForeignKey("conversations.id"),
            nullable=False,
        ),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("conversation_id", "model"),
    )


def downgrade() -> None:
    op.drop_table("prompt_embeddings")
