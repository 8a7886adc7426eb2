"""The words battles are written in, in one place for the arena, the rating engine, the
judge and exports: the outcomes of a vote and what each scores, the conversation modes,
and the categories a battle can be ranked by."""

from __future__ import annotations

from typing import Literal

# A vote's outcome, as FastChat's battle logs write it.
Winner = Literal["model_a", "model_b", "tie", "tie (bothbad)"]
WINNERS: tuple[Winner, ...] = ("model_a", "model_b", "tie", "tie (bothbad)")
# What model_a scores in each outcome (a tie, good or bad, is half a win).
A_SCORE: dict[str, float] = {"model_a": 1.0, "model_b": 0.0, "tie": 0.5, "tie (bothbad)": 0.5}
# The side that won ("a" or "b"), None for a tie.
WINNING_SIDE: dict[str, str | None] = {
    "model_a": "a",
    "model_b": "b",
    "tie": None,
    "tie (bothbad)": None,
}

# How a conversation came about: blind battle, two named models, or one model.
Mode = Literal["battle", "side_by_side", "chat"]
MODES: tuple[Mode, ...] = ("battle", "side_by_side", "chat")

# Categories the rating engine reads off each battle's conversation by rule.
BUILTIN_CATEGORIES = ("long", "multi-turn", "code", "math")
# A labelling judge (`judge label`) marks a prompt `hard_prompt` when it meets enough of
# Arena-Hard's criteria, and tags its topics; these are the leaderboard categories the
# labels add (its `math` tag is left to the built-in rule of the same name).
HARD_PROMPT = "hard_prompt"
LABELLED_TOPICS = ("math", "coding", "creative_writing", "instruction_following")
LABEL_CATEGORIES = (HARD_PROMPT, "coding", "creative_writing", "instruction_following")
