"""What one anonymous visitor must not be able to do to everyone else, each against a real
server with scripted providers: store text the database cannot hold, get a cut-off answer
voted, crash the admin API with big ids, escape per-IP limits with X-Forwarded-For, drive
the API from a rebinding DNS name, read a blind battle off /metrics, or turn a Redis outage
into 500s."""

from __future__ import annotations

import threading
import time

import httpx
import sqlalchemy

from .scripted_models import model
from .test_api_live import ADMIN, arena_config

JSON = {"Content-Type": "application/json"}


def error_code(response: httpx.Response) -> str:
    return response.json()["error"]["code"]


def test_text_the_database_cannot_hold(db_url, start_server, scripted, visitor_factory):
    server = start_server(
        {
            **arena_config(
                scripted,
                [model("nul-model", scripted, "nul"), model("plain-model", scripted, "plain")],
            ),
            "db_url": db_url,
        }
    )
    visitor = visitor_factory(server.url).accept_terms()
    chat = visitor.start(mode="side_by_side", models=["nul-model", "plain-model"])
    path = f"/api/conversations/{chat['id']}/messages"
    for body in ('{"prompt": "hi\\u0000there"}', '{"prompt": "hi\\ud800"}'):
        refused = visitor.request("POST", path, content=body, headers=JSON)
        assert refused.status_code == 400, refused.text
    assert (
        "NUL"
        in visitor.request("POST", path, content='{"prompt": "a\\u0000"}', headers=JSON).json()[
            "error"
        ]["message"]
    )
    # The same kept-alive connection goes on: no 500 closed it.
    events = visitor.send(chat["id"], "Hello")
    answers = {e["side"]: e for e in events if e["type"] == "answer"}
    assert set(answers) == {"a", "b"}, events
    stored = visitor.request("GET", f"/api/conversations/{chat['id']}").json()
    assert (
        "Text a database may refuse: a NUL character." in stored["turns"][0]["answers"]["a"]["html"]
    )
    assert stored["votable"] is True
    assert visitor.vote(chat["id"], "model_b").status_code == 200


def test_a_cut_off_answer_fails_its_side(start_server, scripted, visitor_factory):
    server = start_server(
        arena_config(
            scripted,
            [model("cutoff-model", scripted, "cutoff"), model("plain-model", scripted, "plain")],
        )
    )
    visitor = visitor_factory(server.url).accept_terms()
    chat = visitor.start(mode="side_by_side", models=["cutoff-model", "plain-model"])
    events = visitor.send(chat["id"], "Hello")
    assert [e["side"] for e in events if e["type"] == "error"] == ["a"]
    assert events[-1] == {"type": "done", "votable": False, "can_continue": False}
    assert visitor.vote(chat["id"]).status_code == 409
    stored = visitor.request("GET", f"/api/conversations/{chat['id']}").json()
    assert stored["turns"][0]["answers"]["a"]["error"]
    assert stored["turns"][0]["answers"]["a"]["finish_reason"] is None


def test_ids_out_of_range_are_not_found(db_url, start_server, scripted):
    server = start_server(
        {
            **arena_config(
                scripted, [model("one", scripted, "plain"), model("two", scripted, "other")]
            ),
            "db_url": db_url,
        }
    )
    admin = {"Authorization": f"Bearer {ADMIN}", **JSON}
    for flag in ("9223372036854775808", "2147483648", "0", "-1"):
        answer = httpx.patch(
            f"{server.url}/api/admin/flags/{flag}", headers=admin, content='{"excluded": true}'
        )
        assert answer.status_code == 404, (flag, answer.text)
    for conversation in ("%00", "a%00b", "%ED%A0%80"):
        for path in (
            f"/api/conversations/{conversation}",
            f"/api/admin/conversations/{conversation}",
        ):
            answer = httpx.get(server.url + path, headers=admin)
            assert answer.status_code in (400, 403, 404), (path, answer.text)
    # The admin token is a bearer token: given bare, it is refused.
    bare = httpx.get(server.url + "/api/admin/models", headers={"Authorization": ADMIN})
    assert bare.status_code == 401


def test_forwarded_headers_do_not_escape_per_ip_limits(tmp_path, start_server, scripted):
    db = tmp_path / "arena.db"
    server = start_server(
        {
            **arena_config(
                scripted,
                [model("one", scripted, "plain"), model("two", scripted, "other")],
                ip_rpm=3,
                visitor_rpm=0,
            ),
            "db_url": f"sqlite:///{db}",
        }
    )
    with httpx.Client(base_url=server.url, headers={"Origin": server.url}) as browser:
        assert browser.post("/api/terms").status_code == 200
        statuses = [
            browser.post(
                "/api/conversations", json={}, headers={"X-Forwarded-For": f"10.0.0.{i}"}
            ).status_code
            for i in range(5)
        ]
    assert statuses == [201, 201, 201, 429, 429]
    # Scripts without a cookie (a new visitor each time) are limited per IP as well; the
    # visitors table grows only by the accepted ones.
    terms = [
        httpx.post(
            server.url + "/api/terms", headers={"X-Forwarded-For": f"10.1.0.{i}"}
        ).status_code
        for i in range(6)
    ]
    assert terms == [200, 200, 429, 429, 429, 429]  # the browser above used one
    with sqlalchemy.create_engine(f"sqlite:///{db}").connect() as connection:
        visitors = connection.exec_driver_sql("select count(*) from visitors").scalar()
    assert visitors == 3


def test_host_names_outside_the_allowed_list_are_refused(start_server, scripted):
    server = start_server(
        {
            **arena_config(
                scripted, [model("one", scripted, "plain"), model("two", scripted, "other")]
            ),
            "allowed_hosts": ["127.0.0.1", "arena.example.org"],
        }
    )
    port = server.port
    rebinding = {"Host": f"evil.example:{port}", "Origin": f"http://evil.example:{port}"}
    for method, path in (("POST", "/api/terms"), ("GET", "/v1/models"), ("GET", "/health")):
        answer = httpx.request(method, server.url + path, headers=rebinding)
        assert answer.status_code == 400 and error_code(answer) == "host_not_allowed"
    named = {"Host": f"arena.example.org:{port}", "Origin": f"http://arena.example.org:{port}"}
    assert httpx.post(server.url + "/api/terms", headers=named).status_code == 200
    assert (
        httpx.get(server.url + "/health", headers={"Host": f"localhost:{port}"}).status_code == 400
    )


def metrics(server, token: str | None = None) -> dict[str, float]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.get(server.url + "/metrics", headers=headers)
    assert response.status_code == 200, response.text
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in response.text.splitlines()
        if line and not line.startswith("#")
    }


def test_blind_battles_stay_off_the_public_per_model_metrics(
    start_server, scripted, visitor_factory
):
    token = "metrics-secret"
    servers = {
        private: start_server(
            {
                **arena_config(
                    scripted,
                    [model("slow-one", scripted, "slow"), model("slow-two", scripted, "slow")],
                ),
                **({"metrics_token": token} if private else {}),
            }
        )
        for private in (False, True)
    }
    for private, server in servers.items():
        visitor = visitor_factory(server.url).accept_terms()
        battle = visitor.start()
        streaming = threading.Thread(target=visitor.send, args=(battle["id"], "Hello"))
        streaming.start()
        time.sleep(1.0)  # both answers are arriving now (each takes several seconds)
        seen = metrics(server, token if private else None)
        streaming.join()
        assert seen['modelarena_requests_in_flight{model="slow-one"}'] == 0
        assert seen['modelarena_requests_in_flight{model="slow-two"}'] == 0
        if private:
            assert seen['modelarena_blind_requests_in_flight{model="slow-one"}'] == 1
            assert seen['modelarena_blind_requests_in_flight{model="slow-two"}'] == 1
        else:
            assert seen["modelarena_blind_requests_in_flight"] == 2
            assert not any(
                "slow-" in name and ("blind" in name or "queue" in name) for name in seen
            )
    refused = httpx.get(servers[True].url + "/metrics")
    assert refused.status_code == 401 and error_code(refused) == "invalid_metrics_token"


def test_an_empty_lineup_is_a_server_error(start_server, scripted, visitor_factory):
    server = start_server(arena_config(scripted, [model("only-one", scripted, "plain")]))
    visitor = visitor_factory(server.url).accept_terms()
    answer = visitor.request("POST", "/api/conversations", json={})
    assert answer.status_code == 503
    assert answer.json()["error"]["type"] == "server_error"
    assert answer.json()["error"]["code"] == "no_models"


def test_terms_refusal_names_no_api_path(start_server, scripted, visitor_factory):
    server = start_server(
        arena_config(scripted, [model("one", scripted, "plain"), model("two", scripted, "other")])
    )
    answer = visitor_factory(server.url).request("POST", "/api/conversations", json={})
    assert answer.status_code == 403
    assert "/api" not in answer.json()["error"]["message"]


def test_redis_down_means_503_or_local_limits_never_500(
    start_server, scripted, free_port, visitor_factory
):
    dead = f"redis://127.0.0.1:{free_port()}/0"
    server = start_server(
        {
            **arena_config(
                scripted,
                [model("one", scripted, "plain"), model("two", scripted, "other")],
                visitor_rpm=3,
            ),
            "rate_limit_rpm": 1000,
        },
        args=["--redis", dead],
    )
    # The arena goes on, its limits counted in this process meanwhile.
    visitor = visitor_factory(server.url).accept_terms()
    battle = visitor.start()
    visitor.send(battle["id"], "Hello")
    assert visitor.vote(battle["id"]).status_code == 200
    more = [visitor.request("POST", "/api/conversations", json={}).status_code for _ in range(3)]
    assert more == [201, 201, 429]  # 3 a minute, the battle above included
    # A key's limit cannot be checked without the shared count: 503, said plainly.
    api = httpx.get(server.url + "/v1/models")
    assert api.status_code == 503 and error_code(api) == "rate_limiter_unavailable"
    assert api.headers["retry-after"]
    time.sleep(3)  # the worker registry is polled every second meanwhile
    log = server.log.read_text()
    assert log.count("Traceback") == 0, log[-3000:]
    assert log.count("Redis is unreachable") <= 2, log[-3000:]
