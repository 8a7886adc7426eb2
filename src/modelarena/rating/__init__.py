"""Rating engine: battles in, ratings out (Elo, Bradley–Terry, intervals, style control).

Pure computation with no web or database imports; names load lazily so `import` stays cheap.
Typical use::

    from modelarena.rating import Filters, RatingConfig, rate, read_battles, select_battles

    selection = select_battles(read_battles("clean_battle.json"), Filters())
    board = rate(selection.battles, RatingConfig(ci="bootstrap", rounds=100))
    board.records()
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "Anchor": "presets",
    "BattleDataError": "errors",
    "Battles": "data",
    "Coefficient": "board",
    "FitError": "errors",
    "Filters": "data",
    "Leaderboard": "board",
    "PairCounts": "aggregate",
    "PRESETS": "presets",
    "RatingConfig": "presets",
    "RatingError": "errors",
    "Selection": "data",
    "conversation_metadata": "style",
    "fit_bt": "bt",
    "manifest": "report",
    "online_elo": "elo",
    "rate": "leaderboard",
    "read_battles": "read",
    "render_html": "html",
    "render_text": "report",
    "select_battles": "data",
}
__all__ = [
    "PRESETS",
    "Anchor",
    "BattleDataError",
    "Battles",
    "Coefficient",
    "FitError",
    "Filters",
    "Leaderboard",
    "PairCounts",
    "RatingConfig",
    "RatingError",
    "Selection",
    "conversation_metadata",
    "fit_bt",
    "manifest",
    "online_elo",
    "rate",
    "read_battles",
    "render_html",
    "render_text",
    "select_battles",
]

if TYPE_CHECKING:
    from modelarena.rating.aggregate import PairCounts
    from modelarena.rating.board import Coefficient, Leaderboard
    from modelarena.rating.bt import fit_bt
    from modelarena.rating.data import Battles, Filters, Selection, select_battles
    from modelarena.rating.elo import online_elo
    from modelarena.rating.errors import BattleDataError, FitError, RatingError
    from modelarena.rating.html import render_html
    from modelarena.rating.leaderboard import rate
    from modelarena.rating.presets import PRESETS, Anchor, RatingConfig
    from modelarena.rating.read import read_battles
    from modelarena.rating.report import manifest, render_text
    from modelarena.rating.style import conversation_metadata


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'modelarena.rating' has no attribute {name!r}")
    value = getattr(import_module(f"modelarena.rating.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
