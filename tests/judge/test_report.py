"""`judge show`: MT-Bench tables, pairwise win rates with order-dependent verdicts as ties,
and Bradley–Terry scores through the rating engine, checked against values computed by
hand; JSON and the offline HTML report."""

from __future__ import annotations

import json

import pytest

from modelarena.judge.errors import JudgeError
from modelarena.judge.report import build_report
from modelarena.rating import conversation_metadata

from .helpers import invoke


def grade(model, question, turn, score, category="writing", judge="j"):
    return {
        "kind": "single",
        "judge": judge,
        "model": model,
        "question_id": question,
        "turn": turn,
        "category": category,
        "score": score,
    }


def game(a, b, verdict, question="q", turn=1, judge="j", metadata=None, baseline=None):
    return {
        "kind": "pairwise",
        "judge": judge,
        "model_a": a,
        "model_b": b,
        "question_id": question,
        "turn": turn,
        "category": "writing",
        "verdict": verdict,
        "conv_metadata": metadata,
        "baseline": baseline,
    }


def both(first, second, verdict_first, verdict_second, question, turn=1):
    """A pair judged in both orders; the verdicts are in each game's own positions."""
    return [
        game(first, second, verdict_first, question, turn),
        game(second, first, verdict_second, question, turn),
    ]


def test_mt_bench_table_by_turn_and_category():
    records = [
        grade("x", "1", 1, 8.0),
        grade("x", "1", 2, 6.0),
        grade("x", "2", 1, 10.0, "math"),
        grade("x", "2", 2, None, "math"),
        grade("y", "1", 1, 3.0),
        grade("y", "1", 2, 5.0),
        grade("z", "1", 1, None),
    ]
    report = build_report(records)
    x, y, z = report.grades
    assert x == {
        "model": "x",
        "turn_1": 9.0,
        "turn_2": 6.0,
        "overall": 8.0,
        "graded": 3,
        "failures": 1,
    }
    assert y == {
        "model": "y",
        "turn_1": 3.0,
        "turn_2": 5.0,
        "overall": 4.0,
        "graded": 2,
        "failures": 0,
    }
    assert z == {
        "model": "z",
        "turn_1": None,
        "turn_2": None,
        "overall": None,
        "graded": 0,
        "failures": 1,
    }
    assert report.categories == [
        {"model": "x", "math": 10.0, "writing": 7.0},
        {"model": "y", "math": None, "writing": 4.0},
        {"model": "z", "math": None, "writing": None},
    ]
    assert report.counts["grades"] == 7 and report.counts["grade_parse_failures"] == 2


def test_pairwise_win_rates_treat_order_dependent_verdicts_as_ties():
    records = [
        *both("x", "y", "A>B", "B>A", "1"),  # x wins in both orders
        *both("x", "y", "A>>B", "B>A", "2"),  # x again
        *both("x", "y", "A>B", "A>B", "3"),  # position A wins both: inconsistent
        *both("x", "y", "A=B", "A=B", "4"),  # a tie
        *both("x", "y", "B>A", "A>B", "5"),  # y wins
        *both("x", "y", "A>B", None, "6"),  # unparsed verdict in one order
        game("x", "y", "A>B", "7"),  # one order only
    ]
    report = build_report(records)
    rows = {row["model"]: row for row in report.win_rates}
    assert rows["x"] == {
        "model": "x",
        "wins": 2,
        "losses": 1,
        "ties": 2,
        "inconsistent": 1,
        "failed": 1,
        "incomplete": 1,
        "win_rate": (2 + 1) / 5,
    }
    assert rows["y"]["win_rate"] == pytest.approx((1 + 1) / 5)
    assert report.counts["pairs_inconsistent"] == 1
    assert report.counts["pairs_failed"] == report.counts["pairs_incomplete"] == 1
    assert report.counts["game_parse_failures"] == 1


def test_score_against_a_baseline_equals_the_weighted_win_rate():
    # Against one baseline, the Bradley–Terry maximum likelihood score is the observed
    # score rate: (weighted wins + half the ties) / weighted games.
    records = (
        [game("base", "x", "B>>A", str(i)) for i in range(6)]  # 6 strong wins of x
        + [game("x", "base", "A>B", f"b{i}") for i in range(4)]  # 4 wins of x
        + [game("x", "base", "A=B", f"t{i}") for i in range(4)]  # 4 ties
        + [game("base", "x", "A>B", f"l{i}") for i in range(6)]  # 6 losses of x
    )
    records = [{**record, "baseline": "base"} for record in records]  # as pairwise-baseline
    strong = build_report(records, rounds=0).score
    assert strong["baseline"] == "base"
    rows = {row["model"]: row for row in strong["rows"]}
    assert rows["base"]["score"] == pytest.approx(0.5)
    assert rows["x"]["score"] == pytest.approx((6 * 3 + 4 + 4 / 2) / (6 * 3 + 4 + 4 + 6))
    assert rows["x"]["num_battles"] == 6 * 3 + 14
    plain = build_report(records, rounds=0, strong_weight=1).score
    assert {r["model"]: r for r in plain["rows"]}["x"]["score"] == pytest.approx(12 / 20)


def test_score_intervals_come_from_the_bootstrap_and_contain_the_score():
    records = (
        [game("base", m, "B>A", f"{m}{i}") for m in ("x", "y") for i in range(12)]
        + [game("base", m, "A>B", f"{m}l{i}") for m in ("x", "y") for i in range(8)]
        + [game("base", "y", "A>B", f"yl{i}") for i in range(8, 14)]
    )
    score = build_report(records, rounds=50, seed=1).score
    for row in score["rows"]:
        if row["model"] != "base":
            assert row["score_lower"] < row["score"] < row["score_upper"]
    assert [row["model"] for row in score["rows"]][0] == "x"


def _metadata(length_a: int, length_b: int) -> dict:
    return conversation_metadata(
        [{"role": "user", "content": "q"}, {"role": "assistant", "content": "word " * length_a}],
        [{"role": "user", "content": "q"}, {"role": "assistant", "content": "word " * length_b}],
    )


def test_style_control_discounts_wins_that_length_explains():
    # x wins mostly when its answer is longer than the baseline's; both orders are judged.
    records = []
    for index, (length, wins, losses) in enumerate([(160, 27, 3), (10, 3, 7)]):
        for i in range(wins + losses):
            x_wins = i < wins
            records.append(
                game(
                    "x",
                    "base",
                    "A>B" if x_wins else "B>A",
                    f"{index}-{i}",
                    metadata=_metadata(length, 40),
                )
            )
            records.append(
                game(
                    "base",
                    "x",
                    "B>A" if x_wins else "A>B",
                    f"{index}-{i}",
                    metadata=_metadata(40, length),
                )
            )
    raw = build_report(records, baseline="base", rounds=0).score
    styled = build_report(records, baseline="base", rounds=0, style_control=True).score
    score = {r["model"]: r["score"] for r in raw["rows"]}
    controlled = {r["model"]: r["score"] for r in styled["rows"]}
    assert score["x"] == pytest.approx(0.75)
    assert 0.5 < controlled["x"] < score["x"] - 0.05
    assert raw["style"] == []
    length = next(c for c in styled["style"] if c["name"] == "length")
    assert length["value"] > 0


def test_several_judges_need_a_choice():
    records = [grade("x", "1", 1, 5.0, judge="a"), grade("x", "1", 1, 9.0, judge="b")]
    with pytest.raises(JudgeError, match=r"several judges \(a, b\); pick one with --judge"):
        build_report(records)
    assert build_report(records, judge="b").grades[0]["overall"] == 9.0


def test_show_writes_json_and_an_offline_html_report(tmp_path):
    records = (
        [
            grade(m, str(q), t, 4.0 + q + (m == "x"), "math" if q else "writing")
            for m in ("x", "base")
            for q in range(3)
            for t in (1, 2)
        ]
        + [g for q in range(5) for g in both("base", "x", "B>A", "A>B", str(q))]
        + both("base", "x", "A>B", "B>A", "9")
    )
    path = tmp_path / "judgments.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    html = tmp_path / "report.html"
    result = invoke(
        "judge",
        "show",
        path,
        "--format",
        "json",
        "--html",
        html,
        "--bootstrap-rounds",
        "20",
        "--baseline",
        "base",
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["judge"] == "j"
    assert [row["model"] for row in data["grades"]] == ["x", "base"]
    assert data["win_rates"][0] == {
        "model": "x",
        "wins": 5,
        "losses": 1,
        "ties": 0,
        "inconsistent": 0,
        "failed": 0,
        "incomplete": 0,
        "win_rate": 5 / 6,
    }
    assert data["score"]["baseline"] == "base"
    page = html.read_text()
    assert page.count("Plotly.newPlot") == 4  # grades, categories, win rates, scores
    assert "<script src" not in page  # nothing loads from elsewhere:
    assert len(page) > 1_000_000  # plotly.js is inside the page

    table = invoke("judge", "show", path, "--bootstrap-rounds", "0", "--baseline", "base")
    assert table.exit_code == 0
    for heading in ("MT-Bench grades", "Pairwise win rates", "win rate against base"):
        assert heading in table.stdout
