"""The live leaderboard's battle table: read incrementally from a real SQLite database,
with the same categories the rating engine computes from full records, and flags and
labels that still count after a battle was first read."""

from __future__ import annotations

from sqlalchemy import event

from modelarena.arena.battle_table import BattleTable
from modelarena.arena.export import battle_records
from modelarena.rating import Filters, select_battles
from modelarena.store import arena as store
from modelarena.store import repo
from modelarena.store.db import Database
from modelarena.vocabulary import BUILTIN_CATEGORIES

PROMPTS = [
    ["Write a Python function that reverses a list."],
    ["Solve 3x + 4 = 19 for x."],
    ["Tell me about owls.", "And about hawks?"],
    ["Describe the sea. " * 300],
    ["How many apples are left if I have 12 and eat 5?"],
]


def battle(
    db: Database,
    number: int,
    prompts: list[str],
    models=("m-a", "m-b"),
    mode: str = "battle",
    winner: str = "model_a",
) -> str:
    conversation = f"c{number:04d}"
    store.ensure_visitor(db, "v" * 32, "ip")
    store.create_conversation(db, conversation, "v" * 32, mode, list(models), {}, False)
    for position, prompt in enumerate(prompts):
        turn = store.add_turn(db, conversation, position, prompt, None)
        for side in ("a", "b"):
            store.save_side(db, turn, side, store.SideResult(f"answer {side} {position}", "stop"))
    assert store.add_vote(db, conversation, "v" * 32, winner)
    return conversation


def count_queries(db: Database) -> list[str]:
    seen: list[str] = []
    event.listen(db.engine, "before_cursor_execute", lambda *args: seen.append(args[2].split()[0]))
    return seen


def test_rows_match_full_records_and_are_read_once(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'arena.db'}")
    db.migrate()
    ids = [battle(db, n, p) for n, p in enumerate(PROMPTS)]
    battle(db, 99, ["named"], mode="side_by_side")  # not a blind battle
    table = BattleTable(db)
    rows = table.load()
    assert [r["question_id"] for r in rows] == ids
    full = battle_records(db)
    for category in BUILTIN_CATEGORIES:
        from_rows = select_battles(rows, Filters(categories=(category,)))
        from_full = select_battles(full, Filters(categories=(category,)))
        assert from_rows.rows_read == from_full.rows_read
        assert from_rows.battles.outcome.tolist() == from_full.battles.outcome.tolist()
        assert len(from_rows.battles) == sum(r[category] for r in rows), category
    assert [r["code"] for r in rows] == [True, False, False, False, False]
    assert [r["multi-turn"] for r in rows] == [False, False, True, False, False]
    assert [r["long"] for r in rows] == [False, False, False, True, False]
    assert all("conversation_a" not in r for r in rows)

    # A second load reads no conversation again: only ids, flags and labels.
    queries = count_queries(db)
    again = table.load()
    assert again == rows and len(queries) == 3

    # What can change after a vote still counts: a new vote, a flag, a label.
    new = battle(db, 5, ["Another question"], winner="tie")
    store.add_flag(db, ids[1], "identity_leak", "named itself", True)
    repo.save_prompt_label(db, ids[0], "judge-x", {"coding": True, "hard_prompt": False}, "")
    rows = table.load()
    assert [r["question_id"] for r in rows] == [ids[0], *ids[2:], new]
    assert rows[0]["coding"] is True and rows[0]["hard_prompt"] is False
    assert "coding" not in rows[1]
    flag = store.list_flags(db)[0]
    store.review_flag(db, flag.id, excluded=False)
    assert len(table.load()) == 6
