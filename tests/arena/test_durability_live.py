"""A vote acknowledged is a vote stored: visitors battle and vote concurrently, the server
is killed with SIGKILL in the middle, and the database (SQLite and PostgreSQL) holds every
acknowledged vote, once, with its winner; the restarted server serves them."""

from __future__ import annotations

import random
import threading
import time

import httpx
import sqlalchemy

from .conftest import Visitor
from .scripted_models import model
from .test_api_live import arena_config

VISITORS = 12
KILL_AFTER_VOTES = 30


def battle_until_stopped(
    url: str, acknowledged: dict[str, str], stop: threading.Event, lock: threading.Lock
) -> None:
    visitor = Visitor(url)
    try:
        visitor.accept_terms()
        while not stop.is_set():
            battle = visitor.start()
            visitor.send(battle["id"], "Hello")
            winner = random.choice(["model_a", "model_b", "tie", "tie (bothbad)"])
            if visitor.vote(battle["id"], winner).status_code == 200:
                with lock:
                    acknowledged[battle["id"]] = winner
    except (httpx.HTTPError, AssertionError):
        pass  # the server was killed under this visitor
    finally:
        visitor.close()


def test_every_acknowledged_vote_survives_kill_9(db_url, start_server, scripted):
    config = {
        **arena_config(
            scripted,
            [model("north-1", scripted, "plain"), model("south-1", scripted, "other")],
            visitor_rpm=0,
            ip_rpm=0,
        ),
        "db_url": db_url,
    }
    server = start_server(config)
    acknowledged: dict[str, str] = {}
    stop, lock = threading.Event(), threading.Lock()
    threads = [
        threading.Thread(target=battle_until_stopped, args=(server.url, acknowledged, stop, lock))
        for _ in range(VISITORS)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 120
    while len(acknowledged) < KILL_AFTER_VOTES and time.monotonic() < deadline:
        time.sleep(0.05)
    server.kill()  # SIGKILL, with votes in flight
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    assert len(acknowledged) >= KILL_AFTER_VOTES

    engine = sqlalchemy.create_engine(db_url)
    with engine.connect() as connection:
        rows = connection.exec_driver_sql("select conversation_id, winner from votes").fetchall()
    engine.dispose()
    stored = dict(rows)
    assert len(stored) == len(rows)  # one vote per battle
    missing = {c: w for c, w in acknowledged.items() if stored.get(c) != w}
    assert not missing, f"acknowledged but not stored: {missing}"

    restarted = start_server(config)
    assert httpx.get(restarted.url + "/health").json()["status"] == "ok"
    deadline = time.monotonic() + 90  # its first fit starts a process: slow on a busy box
    board = httpx.get(restarted.url + "/api/leaderboard").json()
    while board["computed_at"] is None and time.monotonic() < deadline:
        time.sleep(0.2)
        board = httpx.get(restarted.url + "/api/leaderboard").json()
    assert board["votes"] == len(stored)  # the live leaderboard counts every stored vote
