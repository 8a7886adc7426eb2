"""A vote keeps what the ratings read off its conversation (turns, prompt tokens, the
built-in categories, the prompt's language, each side's answer-style counts). Votes
stored before have none: the live leaderboard computes theirs from the text once and
writes them back.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

INTEGERS = ("turns", "user_tokens", *(f"{count}_{side}" for count in
            ("tokens", "headers", "lists", "bold") for side in "ab"))  # fmt: skip
BOOLEANS = ("long", "multi_turn", "code", "math")


def upgrade() -> None:
    with op.batch_alter_table("votes") as batch:
        for name in INTEGERS:
            batch.add_column(sa.Column(name, sa.Integer(), nullable=True))
        for name in BOOLEANS:
            batch.add_column(sa.Column(name, sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("language", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("votes") as batch:
        for name in ("language", *BOOLEANS, *INTEGERS):
            batch.drop_column(name)
