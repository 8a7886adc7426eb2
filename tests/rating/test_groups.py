"""Models in groups that never met: a joint penalised fit with a warning, else group by group."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from typer.testing import CliRunner

from modelarena.cli import app
from modelarena.rating.aggregate import aggregate
from modelarena.rating.board import Leaderboard
from modelarena.rating.bt import fit_bt
from modelarena.rating.data import Battles
from modelarena.rating.errors import FitError, RatingError
from modelarena.rating.html import render_html
from modelarena.rating.leaderboard import rate
from modelarena.rating.presets import PRESETS, Anchor, RatingConfig
from modelarena.rating.report import render_text, table

from .helpers import simulate, write

ARRAYS = (
    "rating",
    "ci_lower",
    "ci_upper",
    "simultaneous_lower",
    "simultaneous_upper",
    "rank",
    "rank_upper",
    "num_battles",
    "win_rate",
)


def _track(prefix: str, strengths: list[float], n: int, seed: int, style: bool) -> Battles:
    """Battles among models named prefix-0, prefix-1, ...; with style counts if asked."""
    rng = np.random.default_rng(seed)
    raw = beta = None
    if style:
        raw = rng.integers(0, 400, (n, 2, 4)).astype(float)
        beta = np.array([0.4, 0.0, 0.2, 0.0])
    battles = simulate(np.array(strengths), n, rng, tie_rate=0.1, style=raw, beta=beta)
    return replace(battles, models=tuple(f"{prefix}-{k}" for k in range(len(strengths))))


def _together(*tracks: Battles) -> Battles:
    """One battle table of separate tracks, each track's battles in its own time span."""
    offsets = np.cumsum([0, *[len(t.models) for t in tracks[:-1]]])
    styles = [t.style for t in tracks]
    return Battles(
        models=tuple(name for t in tracks for name in t.models),
        model_a=np.concatenate([t.model_a + o for t, o in zip(tracks, offsets, strict=True)]),
        model_b=np.concatenate([t.model_b + o for t, o in zip(tracks, offsets, strict=True)]),
        outcome=np.concatenate([t.outcome for t in tracks]),
        tstamp=np.concatenate([t.tstamp + 1e6 * k for k, t in enumerate(tracks)]),
        style=None if styles[0] is None else np.concatenate(styles),
    )


def _tracks(style: bool = False) -> tuple[Battles, Battles, Battles]:
    big = _track("big", [0.8, 0.3, 0.0, -0.4, -0.9], 2500, 1, style)
    small = _track("small", [0.5, 0.0, -0.6], 1200, 2, style)
    return _together(big, small), big, small


def _rows(board: Leaderboard, number: int) -> np.ndarray:
    assert board.group is not None
    return np.flatnonzero(board.group == number)


def _same_as_alone(board: Leaderboard, number: int, alone: Leaderboard) -> None:
    rows = _rows(board, number)
    assert [board.models[k] for k in rows] == list(alone.models)
    for name in ARRAYS:
        np.testing.assert_allclose(
            getattr(board, name)[rows], getattr(alone, name), rtol=1e-12, atol=1e-9, err_msg=name
        )
    np.testing.assert_allclose(board.predicted[np.ix_(rows, rows)], alone.predicted, atol=1e-12)


def test_with_a_penalty_groups_are_fitted_together_and_the_penalty_is_named():
    battles, big, small = _tracks()
    config = RatingConfig(l2=0.25, ci="sandwich")
    board = rate(battles, config)
    assert board.group is None and board.parts == ()
    assert "group" not in board.records()[0]
    assert sorted(board.rank.tolist()) == list(range(1, 9))  # one ranking over all models
    (warning,) = board.warnings
    assert "2 groups that never met" in warning and "L2 penalty alone" in warning
    assert "group 1: big-0, big-1, big-2, big-3, big-4; group 2: small-0" in warning
    # The joint penalised fit itself: ratings 1000 + 400·θ/ln 10 from fit_bt on all battles.
    fit = fit_bt(aggregate(battles), l2=0.25)
    expected = dict(zip(battles.models, 1000 + 400 / np.log(10) * fit.theta, strict=True))
    assert np.allclose(board.rating, [expected[name] for name in board.models], atol=1e-9)
    # Only the penalty places the groups: each is centred on 1000 like the whole board.
    for prefix in ("big", "small"):
        mine = [k for k, name in enumerate(board.models) if name.startswith(prefix)]
        assert board.rating[mine].mean() == pytest.approx(1000.0, abs=1e-8)
    assert np.all(board.ci_lower < board.rating) and np.all(board.rating < board.ci_upper)


def test_fastchat_2023_12_reproduces_a_board_over_separate_tracks():
    battles, _, _ = _tracks()
    board = rate(battles, replace(PRESETS["fastchat-2023-12"], rounds=20))
    assert len(board.models) == 8 and board.group is None
    assert "L2 penalty alone" in board.warnings[0]
    assert np.all(np.isfinite(board.ci_lower)) and np.all(board.ci_lower <= board.rating)


def test_without_a_penalty_each_group_is_rated_as_if_alone():
    battles, big, small = _tracks()
    board = rate(battles)
    assert board.group is not None and board.group.tolist() == [1] * 5 + [2] * 3
    _same_as_alone(board, 1, rate(big))
    _same_as_alone(board, 2, rate(small))
    assert board.rank.tolist() == [1, 2, 3, 4, 5, 1, 2, 3]
    assert board.rating[:5].mean() == pytest.approx(1000.0) == board.rating[5:].mean()
    (warning,) = board.warnings
    assert "2 groups that never met" in warning and "not comparable" in warning
    across = np.ix_(_rows(board, 1), _rows(board, 2))
    assert np.all(board.battle_counts[across] == 0)
    assert np.isnan(board.predicted[across]).all() and np.isnan(board.observed[across]).all()
    records = board.records()
    assert [r["group"] for r in records] == [1] * 5 + [2] * 3
    assert list(records[0])[:3] == ["group", "rank", "rank_upper"]
    assert records[5]["model"] == board.models[5] and records[5]["rank"] == 1


def test_bootstrap_and_style_control_run_per_group():
    battles, big, small = _tracks(style=True)
    config = RatingConfig(style_control=True, ci="bootstrap", rounds=40, seed=3)
    seen: list[int] = []
    board = rate(battles, config, progress=seen.append)
    for number, alone in ((1, rate(big, config)), (2, rate(small, config))):
        _same_as_alone(board, number, alone)
        part = board.parts[number - 1]
        assert [c.name for c in part.style] == [c.name for c in alone.style]
        assert np.allclose([c.value for c in part.style], [c.value for c in alone.style])
        assert np.allclose([c.lower for c in part.style], [c.lower for c in alone.style])
    assert board.style == () and board.tie is None
    assert seen == sorted(seen) and seen[-1] == 40  # progress over both groups' rounds
    for part in board.parts:  # the planted length effect (0.4), found in each group
        length = part.style[0]
        assert length.name == "length" and 0.1 < length.lower < length.value < length.upper


def test_an_anchor_fixes_its_own_group_and_the_others_are_centred():
    battles, big, small = _tracks()
    config = RatingConfig(anchor=Anchor("small-1", 1114.0), ci="bootstrap", rounds=30)
    board = rate(battles, config)
    _same_as_alone(board, 1, rate(big, replace(config, anchor=None)))
    _same_as_alone(board, 2, rate(small, config))
    assert board.anchored == "small-1" and board.parts[0].anchored is None
    assert board.rating[board.models.index("small-1")] == 1114.0
    assert board.rating[_rows(board, 1)].mean() == pytest.approx(1000.0)
    with pytest.raises(RatingError, match="cannot anchor 'absent'"):
        rate(battles, RatingConfig(anchor=Anchor("absent", 1000.0)))


def test_elo_is_rated_per_group_too():
    battles, big, small = _tracks()
    config = RatingConfig(method="elo", rounds=20)
    board = rate(battles, config)
    _same_as_alone(board, 1, rate(big, config))
    _same_as_alone(board, 2, rate(small, config))


def test_an_unidentified_or_lonely_group_is_refused_by_name():
    battles, _, _ = _tracks()
    n = len(battles.models)
    champion = Battles(  # a group of three in which "champion" never lost
        models=(*battles.models, "champion", "x", "y"),
        model_a=np.r_[battles.model_a, n, n, n + 1, n + 2].astype(np.int32),
        model_b=np.r_[battles.model_b, n + 1, n + 2, n + 2, n + 1].astype(np.int32),
        outcome=np.r_[battles.outcome, 2, 2, 2, 2].astype(np.int8),
    )
    # Groups of equal size go by their first name: champion, x, y before small-0, 1, 2.
    with pytest.raises(FitError, match=r"group 2 of 3 \(champion, x, y\): .*champion never lost"):
        rate(champion)
    assert rate(champion, RatingConfig(l2=0.1)).warnings  # a penalty makes it finite
    lonely = replace(battles, models=(*battles.models, "lonely"))
    with pytest.raises(FitError, match="group 3 is lonely alone, which has no battles"):
        rate(lonely)


def test_fit_bt_refuses_groups_without_a_penalty_and_fits_them_with_one():
    battles, _, _ = _tracks()
    with pytest.raises(FitError, match="2 groups that never met.*group 2: small-0"):
        fit_bt(aggregate(battles))
    theta = fit_bt(aggregate(battles), l2=0.1).theta
    assert theta[:5].sum() == pytest.approx(0.0, abs=1e-9) and np.ptp(theta) > 0.5


def test_text_table_and_html_show_a_section_per_group():
    from rich.console import Console

    battles, _, _ = _tracks()
    board = rate(battles)
    markdown = render_text(board, "markdown")
    assert "> **Warning:** the models fall into 2 groups" in markdown
    first, second = markdown.split("### Group 1 (5 models)")[1].split("### Group 2 (3 models)")
    assert all(f"| big-{k} |" in first for k in range(5)) and "small-" not in first
    assert all(f"| small-{k} |" in second for k in range(3)) and "big-" not in second
    assert "3,700 battles, 8 models in 2 groups rated separately" in markdown
    csv_lines = render_text(board, "csv").splitlines()
    assert csv_lines[0].startswith("group,rank,rank_upper,model") and csv_lines[6][:2] == "2,"
    assert [r["group"] for r in json.loads(render_text(board, "json"))] == [1] * 5 + [2] * 3
    console = Console(record=True, width=160)
    console.print(table(board))
    text = console.export_text()
    assert text.index("Group 1 (5 models)") < text.index("big-4") < text.index("Group 2")
    page = render_html(board)
    assert page.count("<table>") == 2 and "<h2>Group 2 (3 models)</h2>" in page
    assert 'class="warning">Warning: the models fall into 2 groups' in page


def test_command_reports_groups_and_warns(tmp_path):
    battles, _, _ = _tracks()
    winners = {2: "model_a", 1: "tie", 0: "model_b"}
    rows = [
        {"model_a": battles.models[a], "model_b": battles.models[b], "winner": winners[o]}
        for a, b, o in zip(battles.model_a, battles.model_b, battles.outcome, strict=True)
    ]
    path = write(rows, tmp_path / "tracks.jsonl")
    manifest = tmp_path / "manifest.json"
    result = CliRunner().invoke(
        app,
        ["leaderboard", str(path), "--include-named", "--format", "json", "--manifest",
         str(manifest)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert [r["group"] for r in json.loads(result.stdout)] == [1] * 5 + [2] * 3
    assert "Warning: the models fall into 2 groups that never met" in result.stderr
    record = json.loads(manifest.read_text())
    assert [g["models"][0] for g in record["groups"]] == ["big-0", "small-0"]
    assert "not comparable" in record["warnings"][0]
    penalised = CliRunner().invoke(app, ["leaderboard", str(path), "--include-named", "--l2", "1"])
    assert penalised.exit_code == 0 and "L2 penalty alone" in penalised.stderr
