"""The API's documentation page works offline: /docs names only this server's URLs, the
server serves Swagger UI's files itself, and in Debian's Chromium, with every request to
another site refused, the page draws the API's operations."""

from __future__ import annotations

import os
import re

import httpx
import pytest

pytestmark = pytest.mark.live

CHROMIUM = "/usr/bin/chromium"
ASSETS = {
    "swagger-ui-bundle.js": ("text/javascript", b"SwaggerUIBundle"),
    "swagger-ui.css": ("text/css", b".swagger-ui"),
    "favicon.png": ("image/png", b"\x89PNG"),
}


def test_docs_names_only_local_urls_and_they_are_served(default_server):
    page = httpx.get(default_server.url + "/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert '<html lang="en">' in html
    assert "http:" not in html and "https:" not in html and "//" not in html.replace("<!--", "")
    urls = re.findall(r'(?:src|href)="([^"]+)"', html) + re.findall(r"url: '([^']+)'", html)
    assert sorted(urls) == sorted(
        ["/openapi.json", *(f"/docs/assets/{name}" for name in ASSETS)]
    ), urls
    for name, (media_type, marker) in ASSETS.items():
        asset = httpx.get(f"{default_server.url}/docs/assets/{name}")
        assert asset.status_code == 200, name
        assert asset.headers["content-type"].startswith(media_type)
        assert marker in asset.content[:200_000], name
    document = httpx.get(default_server.url + "/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    assert not any(path.startswith("/docs") for path in document["paths"])


def test_unknown_documentation_files_are_openai_shaped_404s(default_server):
    for name in ("index.html", "..%2Fopenapi.json", "swagger-ui.js"):
        answer = httpx.get(f"{default_server.url}/docs/assets/{name}")
        assert answer.status_code == 404, name
        assert answer.json()["error"]["message"]


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is missing")
def test_swagger_ui_draws_the_api_with_no_other_site_reachable(default_server):
    sync_api = pytest.importorskip("playwright.sync_api")
    refused: list[str] = []

    def local_only(route) -> None:
        if route.request.url.startswith(default_server.url + "/"):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.route("**/*", local_only)
            page.goto(default_server.url + "/docs")
            operations = page.locator(".swagger-ui .opblock-summary-path")
            sync_api.expect(operations.first).to_be_visible(timeout=30_000)
            paths = set(operations.all_inner_texts())
            assert {"/v1/chat/completions", "/v1/models", "/health"} <= {
                p.replace("\u200b", "") for p in paths
            }
            sync_api.expect(page.locator(".swagger-ui .info .title")).to_contain_text("modelarena")
            assert not errors and not refused, (errors, refused)
        finally:
            browser.close()
