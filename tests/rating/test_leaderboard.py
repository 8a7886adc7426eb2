"""The leaderboard: ordering, anchors, matrices, records, Elo, settings errors, text formats."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

from modelarena.rating.data import Battles, Filters
from modelarena.rating.errors import RatingError
from modelarena.rating.html import render_html
from modelarena.rating.leaderboard import rate
from modelarena.rating.presets import Anchor, RatingConfig
from modelarena.rating.report import cells, render_text

from .helpers import rare_model_battles, simulate


@pytest.fixture(scope="module")
def battles() -> Battles:
    return simulate(
        np.array([0.9, -0.4, 0.2, -0.7, 0.0]), 3000, np.random.default_rng(2), tie_rate=0.15
    )


def test_models_are_ranked_best_first_with_counts(battles):
    board = rate(battles)
    assert list(board.rating) == sorted(board.rating, reverse=True)
    assert board.models[0] == "model-0" and board.rank.tolist() == [1, 2, 3, 4, 5]
    assert np.all(board.rank_upper <= board.rank)
    assert board.num_battles.sum() == 2 * len(battles)
    index = board.models.index("model-2")
    mine = (battles.model_a == 2) | (battles.model_b == 2)
    points = np.where(battles.model_a == 2, battles.outcome, 2 - battles.outcome)[mine] / 2
    assert board.win_rate[index] == pytest.approx(points.mean())
    assert np.nanmean(board.rating) == pytest.approx(1000.0)


def test_matrices_are_consistent(battles):
    board = rate(battles)
    counts, observed, predicted = board.battle_counts, board.observed, board.predicted
    assert np.array_equal(counts, counts.T) and np.all(np.diag(counts) == 0)
    off = ~np.eye(len(board.models), dtype=bool)
    assert np.allclose((observed + observed.T)[off], 1.0)
    assert np.allclose((predicted + predicted.T)[off], 1.0)
    # Predicted win rates follow the ratings: 1 / (1 + 10^((R_j − R_i)/400)).
    gap = board.rating[None, :] - board.rating[:, None]
    assert np.allclose(predicted[off], (1 / (1 + 10 ** (gap / 400)))[off])


def test_an_anchor_fixes_a_rating_and_measures_others_against_it(battles):
    free = rate(battles)
    anchored = rate(battles, RatingConfig(anchor=Anchor("model-1", 1200.0)))
    k = anchored.models.index("model-1")
    assert anchored.rating[k] == 1200.0 and anchored.ci_lower[k] == anchored.ci_upper[k]
    shift = 1200.0 - free.rating[free.models.index("model-1")]
    assert np.allclose(anchored.rating, free.rating + shift)
    widths = anchored.ci_upper - anchored.ci_lower
    assert np.all(np.delete(widths, k) > 0)
    with pytest.raises(RatingError, match="cannot anchor 'absent'"):
        rate(battles, RatingConfig(anchor=Anchor("absent", 1000.0)))
    assert (
        rate(battles, RatingConfig(anchor=Anchor("absent", 1.0, if_present=True))).anchored is None
    )


def test_elo_method_and_invalid_settings(battles):
    board = rate(battles, RatingConfig(method="elo", rounds=20))
    assert board.config.ci == "bootstrap" and np.all(board.ci_lower <= board.rating + 1e-9)
    none = rate(battles, RatingConfig(method="elo", ci="none"))
    assert np.isnan(none.ci_lower).all() and np.array_equal(none.rank_upper, none.rank)
    with pytest.raises(RatingError, match="sandwich intervals need the Bradley–Terry"):
        RatingConfig(method="elo", ci="sandwich")
    with pytest.raises(RatingError, match="no style control"):
        RatingConfig(method="elo", style_control=True)
    with pytest.raises(RatingError, match="unknown ties 'sometimes'"):
        RatingConfig(ties="sometimes")


def test_dropping_ties_leaves_out_a_model_that_only_tied(battles):
    extra = Battles(
        models=(*battles.models, "tie-only"),
        model_a=np.r_[battles.model_a, 5, 5].astype(np.int32),
        model_b=np.r_[battles.model_b, 0, 1].astype(np.int32),
        outcome=np.r_[battles.outcome, 1, 1].astype(np.int8),
    )
    board = rate(extra, RatingConfig(ties="drop"))
    assert "tie-only" not in board.models and len(board.models) == 5
    assert "tie-only" in rate(extra).models


def test_tie_models_report_their_parameter(battles):
    davidson = rate(battles, RatingConfig(ties="davidson"))
    assert (
        davidson.tie.name == "davidson_nu"
        and davidson.tie.lower < davidson.tie.value < davidson.tie.upper
    )
    kupper = rate(battles, RatingConfig(ties="rao-kupper", ci="bootstrap", rounds=50))
    assert kupper.tie.name == "rao_kupper_theta" and kupper.tie.value > 1.0


def test_text_formats(battles):
    board = rate(battles, RatingConfig(style_control=False))
    records = json.loads(render_text(board, "json"))
    assert set(records[0]) >= {"model", "rating", "ci_lower", "ci_upper", "rank", "num_battles"}
    assert records[0]["model"] == board.models[0]
    csv_lines = render_text(board, "csv").splitlines()
    assert csv_lines[0].startswith("rank,rank_upper,model,rating") and len(csv_lines) == 6
    markdown = render_text(
        board, "markdown", {"model-0": {"organization": "Org", "license": "MIT"}}
    )
    assert "| Organization | License |" in markdown and "| Org | MIT |" in markdown


def test_nan_is_written_as_null(battles):
    board = rate(battles, RatingConfig(ci="none"))
    assert json.loads(render_text(board, "json"))[0]["ci_lower"] is None
    assert not math.isnan(board.rating[0])


def test_html_report_is_self_contained(battles):
    page = render_html(rate(battles), manifest={"modelarena_version": "x"})
    assert page.startswith("<!DOCTYPE html>") and "Plotly" in page
    assert re.search(r"<script[^>]*\bsrc=", page) is None  # plotly.js is inline, nothing fetched
    assert "model-0" in page and "modelarena_version" in page


def test_terminal_table_prints_names_verbatim():
    from rich.console import Console

    from modelarena.rating.report import table

    odd = Battles(
        models=("gpt [beta]", "[/bold] odd", "c"),
        model_a=np.array([0, 1, 2, 0, 1, 2], dtype=np.int32),
        model_b=np.array([1, 2, 0, 2, 0, 1], dtype=np.int32),
        outcome=np.array([2, 2, 2, 1, 1, 0], dtype=np.int8),
    )
    console = Console(width=120, record=True)
    console.print(table(rate(odd)))
    text = console.export_text()
    assert "gpt [beta]" in text and "[/bold] odd" in text


def _battles(models, a, b, outcome) -> Battles:
    return Battles(
        models=models,
        model_a=np.array(a, dtype=np.int32),
        model_b=np.array(b, dtype=np.int32),
        outcome=np.array(outcome, dtype=np.int8),
    )


@pytest.mark.parametrize(
    ("a", "b", "outcome", "message"),
    [
        ([0, 1, 2], [1, 2, 0], [2, 3, 0], "outcome must be 0, 1 or 2.*index 1"),
        ([0, 1, 2], [1, -1, 0], [2, 1, 0], "model_b holds indices outside 0..2.*index 1"),
        ([0, 3, 2], [1, 2, 0], [2, 1, 0], "model_a holds indices outside 0..2.*index 1"),
        ([0, 1, 1], [1, 2, 1], [2, 1, 2], "1 self-battle.*index 2.*select_battles"),
    ],
)
def test_battles_refuse_values_that_would_corrupt_the_counts(a, b, outcome, message):
    with pytest.raises(RatingError, match=message):
        _battles(("x", "y", "z"), a, b, outcome)


def test_battles_need_integer_indices():
    with pytest.raises(RatingError, match="integer model indices"):
        Battles(("x", "y"), np.array([0.0]), np.array([1.0]), np.array([2], dtype=np.int8))


def test_rating_needs_two_models_and_a_battle():
    with pytest.raises(RatingError, match="two or more models"):
        rate(_battles(("x",), [], [], []))
    with pytest.raises(RatingError, match="no battles"):
        rate(_battles(("x", "y"), [], [], []), RatingConfig(method="elo"))


def test_unbounded_bounds_in_every_output():
    from modelarena.rating.html import _ratings_figure

    board = rate(rare_model_battles(), RatingConfig(ci="bootstrap", rounds=100))
    rare, other = board.models.index("rare"), board.models.index("m0")
    assert board.ci_upper[rare] == math.inf

    def strict(constant: str):
        raise AssertionError(f"{constant} is not JSON")

    records = json.loads(render_text(board, "json"), parse_constant=strict)
    assert records[rare]["ci_upper"] is None and records[other]["ci_upper"] is not None
    shown = {row[2]: row[4] for row in cells(board)[1]}
    assert shown["rare"].startswith("+∞/") and "∞" not in shown["m0"]
    assert "| rare |" in render_text(board, "markdown")
    bars = _ratings_figure(board).data[0].error_y
    assert np.all(np.isfinite(bars.array)) and np.all(np.isfinite(bars.arrayminus))
    others = np.r_[np.delete(bars.array, rare), np.delete(bars.arrayminus, rare)]
    assert bars.array[rare] > others.max()
    assert "unbounded" in _ratings_figure(board).data[0].hovertext[rare]
    assert render_html(board).startswith("<!DOCTYPE html>")


def test_dropped_ties_still_count_as_battles_and_are_reported(battles):
    from modelarena.rating.data import Selection
    from modelarena.rating.report import manifest

    kept, dropped = rate(battles), rate(battles, RatingConfig(ties="drop"))
    order = [kept.models.index(name) for name in dropped.models]
    assert np.array_equal(dropped.num_battles, kept.num_battles[order])
    assert np.allclose(dropped.win_rate, kept.win_rate[order])
    assert np.array_equal(dropped.battle_counts, kept.battle_counts[np.ix_(order, order)])
    ties = int(np.count_nonzero(battles.outcome == 1))
    selection = Selection(battles=battles, removed=(("named", 0),), rows_read=len(battles))
    record = manifest(dropped, selection, Filters())
    assert record["removed"][-1] == {"filter": "ties (--ties drop)", "battles": ties}
    assert record["battles_used"] == len(battles) - ties
    assert "ties (--ties drop)" not in str(manifest(kept, selection, Filters())["removed"])
