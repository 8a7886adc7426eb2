"""The arena: visitors, conversations, turns, votes, feedback, flags, models, scores
and prompt labels.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "models",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=True),
        sa.Column("organization", sa.String(length=200), nullable=True),
        sa.Column("license", sa.String(length=200), nullable=True),
        sa.Column("parameters", sa.String(length=64), nullable=True),
        sa.Column("context_length", sa.Integer(), nullable=True),
        sa.Column("vision", sa.Boolean(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=True),
        sa.Column("weight", sa.Float(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "scores",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("benchmark", sa.String(length=100), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("source", sa.String(length=500), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("model", "benchmark"),
    )
    op.create_index(op.f("ix_scores_model"), "scores", ["model"], unique=False)
    op.create_table(
        "visitors",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("ip_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("terms_accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_visitors_ip_hash"), "visitors", ["ip_hash"], unique=False)
    op.create_table(
        "conversations",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("visitor_id", sa.String(length=32), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("model_a", sa.String(length=200), nullable=False),
        sa.Column("model_b", sa.String(length=200), nullable=True),
        sa.Column("sampling", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["visitor_id"],
            ["visitors.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_conversations_visitor_id"), "conversations", ["visitor_id"], unique=False
    )
    op.create_table(
        "flags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("excluded", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_flags_conversation_id"), "flags", ["conversation_id"], unique=False)
    op.create_table(
        "prompt_labels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.String(length=32), nullable=False),
        sa.Column("labeler", sa.String(length=200), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("conversation_id", "labeler"),
    )
    op.create_index(
        op.f("ix_prompt_labels_conversation_id"), "prompt_labels", ["conversation_id"], unique=False
    )
    op.create_table(
        "turns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("image", sa.String(length=80), nullable=True),
        sa.Column("regenerations", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answer_a", sa.Text(), nullable=True),
        sa.Column("answer_b", sa.Text(), nullable=True),
        sa.Column("finish_a", sa.String(length=32), nullable=True),
        sa.Column("finish_b", sa.String(length=32), nullable=True),
        sa.Column("error_a", sa.Text(), nullable=True),
        sa.Column("error_b", sa.Text(), nullable=True),
        sa.Column("ttft_a_ms", sa.Float(), nullable=True),
        sa.Column("ttft_b_ms", sa.Float(), nullable=True),
        sa.Column("duration_a_ms", sa.Float(), nullable=True),
        sa.Column("duration_b_ms", sa.Float(), nullable=True),
        sa.Column("prompt_tokens_a", sa.Integer(), nullable=True),
        sa.Column("prompt_tokens_b", sa.Integer(), nullable=True),
        sa.Column("completion_tokens_a", sa.Integer(), nullable=True),
        sa.Column("completion_tokens_b", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("conversation_id", "position"),
    )
    op.create_index(op.f("ix_turns_conversation_id"), "turns", ["conversation_id"], unique=False)
    op.create_table(
        "votes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.String(length=32), nullable=False),
        sa.Column("visitor_id", sa.String(length=32), nullable=False),
        sa.Column("winner", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
        ),
        sa.ForeignKeyConstraint(
            ["visitor_id"],
            ["visitors.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("conversation_id"),
    )
    op.create_index(op.f("ix_votes_created_at"), "votes", ["created_at"], unique=False)
    op.create_index(op.f("ix_votes_visitor_id"), "votes", ["visitor_id"], unique=False)
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("turn_id", sa.Integer(), nullable=False),
        sa.Column("visitor_id", sa.String(length=32), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["turn_id"],
            ["turns.id"],
        ),
        sa.ForeignKeyConstraint(
            ["visitor_id"],
            ["visitors.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("turn_id"),
    )
    op.create_index(op.f("ix_feedback_visitor_id"), "feedback", ["visitor_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_feedback_visitor_id"), table_name="feedback")
    op.drop_table("feedback")
    op.drop_index(op.f("ix_votes_visitor_id"), table_name="votes")
    op.drop_index(op.f("ix_votes_created_at"), table_name="votes")
    op.drop_table("votes")
    op.drop_index(op.f("ix_turns_conversation_id"), table_name="turns")
    op.drop_table("turns")
    op.drop_index(op.f("ix_prompt_labels_conversation_id"), table_name="prompt_labels")
    op.drop_table("prompt_labels")
    op.drop_index(op.f("ix_flags_conversation_id"), table_name="flags")
    op.drop_table("flags")
    op.drop_index(op.f("ix_conversations_visitor_id"), table_name="conversations")
    op.drop_table("conversations")
    op.drop_index(op.f("ix_visitors_ip_hash"), table_name="visitors")
    op.drop_table("visitors")
    op.drop_index(op.f("ix_scores_model"), table_name="scores")
    op.drop_table("scores")
    op.drop_table("models")
