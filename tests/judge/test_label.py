"""`modelarena label` on the arena database (SQLite and PostgreSQL) with the scripted
judge: categories stored through the store's functions, `hard_prompt` derived from six of
the seven criteria, unparseable answers reported and not stored, `--limit` respected
without unlabellable prompts holding it back, a labeller that never answers in form
stopped early."""

from __future__ import annotations

import json

import pytest

from modelarena.judge.label import CATEGORIES, CRITERIA, GIVE_UP_AFTER
from modelarena.store import repo
from modelarena.store.db import Database

from .arena_db import add_battle
from .helpers import invoke
from .scripted import user_text

SIX = dict.fromkeys(CATEGORIES, False) | dict.fromkeys(list(CRITERIA)[:6], True) | {"coding": True}
FIVE = (
    dict.fromkeys(CATEGORIES, False)
    | dict.fromkeys(list(CRITERIA)[:5], True)
    | {"creative_writing": "yes"}
)


def script(body):
    text = user_text(body)
    if "Write a sort" in text:
        return "Sure.\n```json\n" + json.dumps(SIX) + "\n```"
    if "A poem" in text:
        return json.dumps(FIVE)
    return "This prompt is about many things."


@pytest.fixture
def labelled_db(arena_url):
    db = Database(arena_url)
    db.migrate()
    prompts = {"sort": "Write a sort in C", "poem": "A poem about rain", "vague": "Hello there"}
    for ident, prompt in prompts.items():
        add_battle(db, ident, "alpha", "beta", [(prompt, "a", "b")], "tie")
    db.close()
    return arena_url


def test_label_stores_categories_and_derives_hard_prompt(labelled_db, scripted_judge):
    judge = scripted_judge(script)
    result = invoke(
        "label", "--judge-model", "labeller", "--judge-endpoint", judge.url, "--db", labelled_db
    )
    assert result.exit_code == 0, result.output
    assert "2 prompts labelled" in result.stdout
    assert "unparseable labels for vague" in result.stderr
    assert "This prompt is about many things." in result.stderr
    db = Database(labelled_db)
    try:
        labels = repo.prompt_labels(db)
        assert set(labels) == {"sort", "poem"}
        assert labels["sort"] == {**SIX, "hard_prompt": True}
        assert labels["poem"] == {**FIVE, "creative_writing": True, "hard_prompt": False}
        assert [cid for cid, _ in repo.unlabeled_prompts(db, "labeller")] == ["vague"]
    finally:
        db.close()
    # Only the prompt left unlabelled is asked again.
    judge.requests.clear()
    again = invoke(
        "label", "--judge-model", "labeller", "--judge-endpoint", judge.url, "--db", labelled_db
    )
    assert again.exit_code == 0 and "0 prompts labelled" in again.stdout
    assert len(judge.requests) == 1 and "Hello there" in user_text(judge.requests[0])


def test_label_limit_and_the_configured_database(tmp_path, scripted_judge, monkeypatch):
    url = f"sqlite:///{tmp_path / 'configured.db'}"
    db = Database(url)
    db.migrate()
    for index in range(3):
        add_battle(db, f"c{index}", "alpha", "beta", [("Write a sort, please", "a", "b")], "tie")
    db.close()
    monkeypatch.setenv("MODELARENA_DB_URL", url)
    judge = scripted_judge(script)
    result = invoke(
        "label", "--judge-model", "labeller", "--judge-endpoint", judge.url, "--limit", "2"
    )
    assert result.exit_code == 0, result.output
    assert "2 prompts labelled" in result.stdout and len(judge.requests) == 2
    db = Database(url)
    assert len(repo.prompt_labels(db)) == 2
    db.close()


def _prompts_db(tmp_path, prompts: list[str]) -> str:
    url = f"sqlite:///{tmp_path / 'arena.db'}"
    db = Database(url)
    db.migrate()
    for index, prompt in enumerate(prompts):
        add_battle(db, f"c{index:02d}", "alpha", "beta", [(prompt, "a", "b")], "tie")
    db.close()
    return url


def test_unlabellable_prompts_do_not_hold_back_the_limit(tmp_path, scripted_judge):
    # The two oldest prompts never get a usable answer; --limit 2 still labels two.
    url = _prompts_db(tmp_path, ["Hello there", "Hello again", "Write a sort", "A poem"])
    judge = scripted_judge(script)
    result = invoke(
        "label",
        "--judge-model",
        "labeller",
        "--judge-endpoint",
        judge.url,
        "--db",
        url,
        "--limit",
        "2",
        "--concurrency",
        "1",
    )
    assert result.exit_code == 0, result.output
    assert "2 prompts labelled" in result.stdout
    assert result.stderr.count("unparseable labels for") == 2
    assert len(judge.requests) == 4
    db = Database(url)
    try:
        assert set(repo.prompt_labels(db)) == {"c02", "c03"}
    finally:
        db.close()


def test_a_labeller_that_never_answers_in_form_is_stopped(tmp_path, scripted_judge):
    url = _prompts_db(tmp_path, [f"Hello number {i}" for i in range(3 * GIVE_UP_AFTER)])
    judge = scripted_judge(lambda body: "I like this prompt.")
    result = invoke(
        "label",
        "--judge-model",
        "labeller",
        "--judge-endpoint",
        judge.url,
        "--db",
        url,
        "--concurrency",
        "1",
    )
    assert result.exit_code == 1
    assert (
        f"Error: labeller gave no usable labels in {GIVE_UP_AFTER} answers (the first: "
        "'I like this prompt.')"
    ) in result.stderr
    assert "Traceback" not in result.output
    assert GIVE_UP_AFTER <= len(judge.requests) <= GIVE_UP_AFTER + 1
