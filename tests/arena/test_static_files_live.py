"""Static files over real HTTP: gzip for clients that take it (Plotly's 4.8 MB bundle
included), content-hashed URLs in the pages that browsers keep for a year, ETag
revalidation for other URLs, a new URL when a file changes; API answers and event
streams never compressed."""

from __future__ import annotations

import gzip
import re
import threading
import time

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request

from modelarena.web.static_files import StaticFiles, accepts_gzip

from .scripted_models import model

pytestmark = pytest.mark.live
GZIP = {"Accept-Encoding": "gzip"}
IDENTITY = {"Accept-Encoding": "identity"}


@pytest.fixture(scope="module")
def server(start_server, scripted):
    return start_server(
        {
            "include_default_models": False,
            "models": [model("plain-a", scripted, "plain"), model("plain-b", scripted, "other")],
        }
    )


def raw_get(url: str, headers: dict[str, str]) -> httpx.Response:
    """A GET whose body is left as sent (httpx would otherwise decompress it)."""
    with httpx.Client(timeout=60) as client, client.stream("GET", url, headers=headers) as r:
        r.body = b"".join(r.iter_raw())  # type: ignore[attr-defined]
    return r


def test_pages_link_versioned_files_that_are_compressed_and_kept_for_a_year(server):
    page = httpx.get(server.url + "/").text
    urls = re.findall(r'(?:href|src)="(/static/[^"]+)"', page)
    names = {url.split("?")[0].rsplit("/", 1)[1] for url in urls}
    assert {"style.css", "highlight.css", "common.js", "arena.js", "favicon.svg"} <= names
    for url in urls:
        assert re.search(r"\?v=[0-9a-f]{16}$", url), url
        plain = raw_get(server.url + url, IDENTITY)
        packed = raw_get(server.url + url, GZIP)
        for response in (plain, packed):
            assert response.status_code == 200
            assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
            assert response.headers["x-content-type-options"] == "nosniff"
        assert "content-encoding" not in plain.headers
        if len(plain.body) >= 1024:  # small files are not worth compressing
            assert packed.headers["content-encoding"] == "gzip", url
            assert packed.headers["vary"] == "Accept-Encoding"
            assert gzip.decompress(packed.body) == plain.body
            assert int(packed.headers["content-length"]) == len(packed.body) < len(plain.body)


def test_plotly_is_sent_compressed_and_revalidated_by_etag(server):
    url = server.url + "/static/plotly.min.js"
    plain = raw_get(url, IDENTITY)
    packed = raw_get(url, {"Accept-Encoding": "br;q=1.0, gzip;q=0.8, *;q=0.1"})
    assert len(plain.body) > 4_000_000
    assert packed.headers["content-encoding"] == "gzip"
    assert len(packed.body) < 0.35 * len(plain.body)
    print(f"plotly.min.js: {len(plain.body):,} bytes, {len(packed.body):,} gzip-compressed")
    assert packed.headers["content-type"] == "text/javascript; charset=utf-8"
    # Without the content hash in its URL a copy must be checked before each use ...
    assert packed.headers["cache-control"] == plain.headers["cache-control"] == "no-cache"
    etag = packed.headers["etag"]
    again = raw_get(url, {**GZIP, "If-None-Match": etag})
    assert again.status_code == 304 and again.body == b"" and again.headers["etag"] == etag
    # ... and with it, the copy is good for a year.
    digest = plain.headers["etag"].strip('"')
    versioned = raw_get(f"{url}?v={digest}", GZIP)
    assert versioned.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert raw_get(f"{url}?v=0123456789abcdef", GZIP).headers["cache-control"] == "no-cache"


def test_refusing_gzip_gets_the_plain_file():
    assert accepts_gzip("gzip, deflate, br") and accepts_gzip("*") and accepts_gzip("GZIP;q=0.5")
    assert not accepts_gzip("") and not accepts_gzip("identity") and not accepts_gzip("br")
    assert not accepts_gzip("gzip;q=0") and not accepts_gzip("*;q=0, br")
    assert not accepts_gzip("gzip;q=0, *")  # named codings win over `*`


def test_unknown_files_are_a_404_in_the_error_shape(server):
    response = httpx.get(server.url + "/static/nothing.js")
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "No such file."
    for path in ("/static/..%2Farena%2Fpages.py", "/static/%2e%2e", "/static/"):
        response = httpx.get(server.url + path)
        assert response.status_code == 404 and response.json()["error"]["message"], path


def test_api_answers_and_event_streams_are_not_compressed(server, visitor_factory):
    for path in ("/api/models", "/health", "/v1/models", "/api/leaderboard"):
        response = raw_get(server.url + path, GZIP)
        assert response.status_code == 200, path
        assert "content-encoding" not in response.headers, path
    visitor = visitor_factory(server.url).accept_terms()
    battle = visitor.start()
    with visitor.http.stream(
        "POST", f"/api/conversations/{battle['id']}/messages", json={"prompt": "Hi"}, headers=GZIP
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        assert "content-encoding" not in response.headers
        assert b"data: " in b"".join(response.iter_raw())


def test_a_changed_file_gets_a_new_url(tmp_path, free_port):
    (tmp_path / "app.js").write_text("console.log('first');\n" * 100)
    before = StaticFiles.from_directory(tmp_path)
    (tmp_path / "app.js").write_text("console.log('second');\n" * 100)
    after = StaticFiles.from_directory(tmp_path)  # as the next start of the server reads it
    assert before.url("app.js") != after.url("app.js")
    app = FastAPI()

    @app.get("/static/{name}")
    async def static(request: Request, name: str):
        return await after.response(name, request.headers, request.query_params.get("v"))

    with serving(app, free_port()) as base:
        new = raw_get(base + after.url("app.js"), IDENTITY)
        assert new.body.startswith(b"console.log('second')")
        assert new.headers["cache-control"] == "public, max-age=31536000, immutable"
        old = raw_get(base + before.url("app.js"), IDENTITY)  # a page from before the change
        assert old.body == new.body and old.headers["cache-control"] == "no-cache"


class serving:
    """`app` served by uvicorn on a free loopback port in a thread, for a `with` block."""

    def __init__(self, app: FastAPI, port: int) -> None:
        self.port = port
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        while not self.server.started:
            assert self.thread.is_alive(), "uvicorn did not start"
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join()
