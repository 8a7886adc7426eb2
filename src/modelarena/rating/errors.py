"""Errors of the rating engine that a user can act on.

Every message says what was wrong (file, column, label, row, model) and what to do about it.
"""


class RatingError(ValueError):
    """A leaderboard cannot be computed as asked; the message says why and what to change."""


class BattleDataError(RatingError):
    """The battle table is unreadable, incomplete or holds values outside the documented format."""


class FitError(RatingError):
    """The ratings are not identified by the data (disconnected models, no finite maximum)."""
