"""`modelarena label` on the arena database (SQLite and PostgreSQL) with the scripted
judge: categories stored through the store's functions, `hard_prompt` derived from six of
the seven criteria, unparseable answers reported and not stored, `--limit` respected."""

from __future__ import annotations

import json

import pytest

from modelarena.judge.label import CATEGORIES, CRITERIA
from modelarena.store import repo
from modelarena.store.db import Database

from .arena_db import add_battle
from .helpers import invoke
from .scripted import user_text

SIX = dict.fromkeys(CATEGORIES, False) | dict.fromkeys(list(CRITERIA)[:6], True) | {
    "coding": True}
FIVE = dict.fromkeys(CATEGORIES, False) | dict.fromkeys(list(CRITERIA)[:5], True) | {
    "creative_writing": "yes"}


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
    result = invoke("label", "--judge-model", "labeller", "--judge-endpoint", judge.url,
                    "--db", labelled_db)
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
    again = invoke("label", "--judge-model", "labeller", "--judge-endpoint", judge.url,
                   "--db", labelled_db)
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
    result = invoke("label", "--judge-model", "labeller", "--judge-endpoint", judge.url,
                    "--limit", "2")
    assert result.exit_code == 0, result.output
    assert "2 prompts labelled" in result.stdout and len(judge.requests) == 2
    db = Database(url)
    assert len(repo.prompt_labels(db)) == 2
    db.close()
