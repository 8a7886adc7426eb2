"""The live leaderboard's battle table, on SQLite and PostgreSQL: the features stored with
each vote equal what the rating engine computes from the conversation; battles voted
before features were stored get them computed once and written back; later loads read no
conversation text; flags, labels and late-committed votes still count."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import sqlalchemy
from sqlalchemy import event

from modelarena.arena.battle_features import COUNTS, view_features
from modelarena.arena.battle_table import BattleTable
from modelarena.arena.export import battle_records, import_battles
from modelarena.rating import Filters, select_battles
from modelarena.rating.data import category_columns
from modelarena.store import arena as store
from modelarena.store import repo
from modelarena.store.battles import FEATURES, Features
from modelarena.store.db import Database
from modelarena.store.models import Vote

VISITOR = "v" * 32
# (prompt, answer a, answer b) turns of battles that differ in every feature.
BATTLES = [
    [
        (
            "Write a Python function that reverses a list.",
            "```python\nx[::-1]\n```",
            "Use `reversed`.",
        )
    ],
    [("Solve 3x + 4 = 19 for x.", "# Steps\n1. subtract\n2. divide\n**x = 5**", "x is 5")],
    [("Tell me about owls.", "- nocturnal\n- silent", "Owls hunt."), ("And hawks?", "", None)],
    [("Describe the sea. " * 300, "## Sea\n" + "waves " * 200, "__Blue__ and **wide**")],
    [("How many apples are left if I have 12 and eat 5?", "7", "Seven apples.")],
    [("请介绍一下长城。", "长城很长。", "它在中国。")],
    [("Wie spät ist es in Berlin, und ist das nicht die Zeit für ein Bier?", "Zeit", "Prost")],
]


def battle(
    db: Database,
    number: int,
    turns: list[tuple[str, str, str | None]],
    mode: str = "battle",
    winner: str = "model_a",
    stored_features: bool = True,
    vote: bool = True,
) -> str:
    """A conversation voted through the store, with the features a vote stores (or none,
    as before they were stored); with `vote` False, not voted yet."""
    conversation = f"c{number:04d}"
    store.ensure_visitor(db, VISITOR, "ip")
    store.create_conversation(db, conversation, VISITOR, mode, ["m-a", "m-b"], {}, False)
    for position, (prompt, answer_a, answer_b) in enumerate(turns):
        turn = store.add_turn(db, conversation, position, prompt, None)
        for side, answer in (("a", answer_a), ("b", answer_b)):
            if answer is not None:
                store.save_side(db, turn, side, store.SideResult(answer, "stop"))
    describe = view_features if stored_features else None
    assert not vote or store.add_vote(db, conversation, VISITOR, winner, features=describe)
    return conversation


def statements(db: Database) -> list[str]:
    seen: list[str] = []
    event.listen(db.engine, "before_cursor_execute", lambda *args: seen.append(args[2]))
    return seen


def reads_text(queries: list[str]) -> bool:
    """Whether any of the queries reads a conversation's prompts or answers."""
    return any(column in q for q in queries for column in ("turns.prompt", "turns.answer_"))


def stored_features(db: Database) -> dict[str, Features]:
    """The features stored in each vote that has them, by conversation."""
    with db.session() as session:
        rows = session.scalars(sqlalchemy.select(Vote).where(Vote.turns.is_not(None))).all()
        return {r.conversation_id: Features(*(getattr(r, n) for n in FEATURES)) for r in rows}


def assert_same_as_the_engine(db: Database, table) -> None:
    """The table's categories and the stored features of its battles are what the rating
    engine computes from the conversations' text."""
    full = battle_records(db)
    assert [r["question_id"] for r in full] == table["question_id"].to_pylist()
    text_only = [{k: v for k, v in r.items() if k != "conv_metadata"} for r in full]
    for category, values in category_columns(text_only).items():
        assert table[category].to_pylist() == values, category
    stored = stored_features(db)
    features = [stored[r["question_id"]] for r in full]
    style = select_battles(text_only, style_control=True).battles.style
    counts = [[[getattr(f, f"{c}_{side}") for c in COUNTS] for side in "ab"] for f in features]
    assert np.array_equal(np.array(counts), style)
    # The table's style counts are those too, as style control reads them.
    read = select_battles(table, Filters(anonymous_only=False), style_control=True)
    assert np.array_equal(read.battles.style, style)
    assert [(f.turns, f.user_tokens) for f in features] == [
        (r["turn"], r["conv_metadata"]["sum_user_tokens"]) for r in full
    ]
    for category, values in category_columns(text_only).items():
        assert [getattr(f, category.replace("-", "_")) for f in features] == values
    for language in ("English", "Chinese", "German"):
        in_text = len(select_battles(text_only, Filters(languages=(language,))).battles)
        assert [f.language for f in features].count(language) == in_text > 0, language


def test_stored_features_are_the_engines_and_later_loads_read_no_text(db):
    ids = [battle(db, n, turns) for n, turns in enumerate(BATTLES)]
    battle(db, 99, [("named", "x", "y")], mode="side_by_side")  # not a blind battle
    assert set(stored_features(db)) == {*ids, "c0099"}

    writes = statements(db)
    table = BattleTable(db)
    loaded = table.load()
    assert not reads_text(writes) and not any(s.startswith("UPDATE") for s in writes)
    rows = loaded.to_pylist()
    assert [r["question_id"] for r in rows] == ids
    assert [r["code"] for r in rows] == [True, False, False, False, False, False, False]
    assert [r["multi-turn"] for r in rows] == [False, False, True, False, False, False, False]
    assert [r["long"] for r in rows] == [False, False, False, True, False, False, False]
    assert loaded.column_names == ["question_id", "model_a", "model_b", "winner", "long",
                                   "multi-turn", "code", "math", "conv_metadata"]  # fmt: skip
    assert_same_as_the_engine(db, loaded)

    # A second load reads only what can change: new votes, the count, flags, labels.
    queries = statements(db)
    assert table.load().equals(loaded) and len(queries) == 4
    assert not reads_text(queries)

    new = battle(db, 7, [("Another question", "a", "b")], winner="tie")
    store.add_flag(db, ids[1], "identity_leak", "named itself", True)
    repo.save_prompt_label(
        db, ids[0], "judge-x", {"coding": True, "hard_prompt": False, "math": True}, ""
    )
    rows = table.load().to_pylist()
    assert [r["question_id"] for r in rows] == [ids[0], *ids[2:], new]
    assert rows[0]["coding"] is True and rows[0]["hard_prompt"] is False
    assert rows[1]["coding"] is None
    assert rows[0]["math"] is False  # the built-in rule keeps its category
    flag = store.list_flags(db)[0]
    store.review_flag(db, flag.id, excluded=False)
    assert table.load().num_rows == len(BATTLES) + 1


def test_battles_voted_before_features_were_stored_get_them_once(db):
    ids = [battle(db, n, turns, stored_features=False) for n, turns in enumerate(BATTLES)]
    assert stored_features(db) == {}
    loaded = BattleTable(db).load()
    assert [r["question_id"] for r in loaded.to_pylist()] == ids
    assert_same_as_the_engine(db, loaded)

    # Written back: they equal what a vote stores, and a restart reads no text.
    written = stored_features(db)
    again = Database(db.url)
    for conversation in ids:
        assert written[conversation] == view_features(store.get_conversation(again, conversation))
    queries = statements(again)
    assert BattleTable(again).load().equals(loaded)
    assert not reads_text(queries)
    again.close()


def test_imported_battles_are_stored_with_their_features(db):
    records = [
        {
            "question_id": f"imported-{n}",
            "model_a": "m-a",
            "model_b": "m-b",
            "winner": "model_b",
            "tstamp": 1_700_000_000 + n,
            "conversation_a": [m for p, a, _ in turns for m in _pair(p, a)],
            "conversation_b": [m for p, _, b in turns for m in _pair(p, b)],
        }
        for n, turns in enumerate(BATTLES)
    ]
    assert import_battles(db, records) == (len(BATTLES), 0)
    assert len(stored_features(db)) == len(BATTLES)
    queries = statements(db)
    loaded = BattleTable(db).load()
    assert not reads_text(queries)
    assert_same_as_the_engine(db, loaded)


def _pair(prompt: str, answer: str | None) -> list[dict[str, str]]:
    return [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer or ""}]


def test_a_vote_committed_after_a_newer_one_was_read_still_counts(db):
    """PostgreSQL hands out vote ids before commit: a vote may become visible after a
    newer one has been read."""
    first = battle(db, 1, BATTLES[0])
    newer, late = (battle(db, n, BATTLES[n], vote=False) for n in (2, 3))
    vote_directly(db, 1000, newer)
    table = BattleTable(db)
    assert [r["question_id"] for r in table.load().to_pylist()] == [first, newer]
    vote_directly(db, 500, late)
    assert [r["question_id"] for r in table.load().to_pylist()] == [first, late, newer]
    assert stored_features(db).keys() == {first, newer, late}


def vote_directly(db: Database, vote: int, conversation: str) -> None:
    with db.engine.begin() as connection:
        connection.execute(
            sqlalchemy.text(
                "insert into votes (id, conversation_id, visitor_id, winner, created_at) "
                "values (:id, :conversation, :visitor, 'tie', :now)"
            ),
            {
                "id": vote,
                "conversation": conversation,
                "visitor": VISITOR,
                "now": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"),
            },
        )
