"""A scripted OpenAI-compatible judge: a real aiohttp server on a free port, in its own
thread, answering /v1/chat/completions with texts a test's script chooses, and keeping
every request body. It stands in for an external judge model."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

# A script gets the request body and returns the reply text, or (status, message) to fail.
Script = Callable[[dict[str, Any]], "str | tuple[int, str]"]


class ScriptedJudge:
    def __init__(self, script: Script, port: int) -> None:
        self.script = script
        self.url = f"http://127.0.0.1:{port}/v1"
        self.requests: list[dict[str, Any]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.delay_s = 0.0
        self.compress = False
        self._port = port
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def start(self) -> ScriptedJudge:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("scripted judge did not start")
        return self

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", self._port)
        self._loop.run_until_complete(site.start())
        self._ready.set()
        self._loop.run_forever()

    async def _chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(body)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            reply = self.script(body)
        finally:
            self.in_flight -= 1
        if isinstance(reply, tuple):
            status, message = reply
            return web.json_response(
                {"error": {"message": message, "type": "scripted", "param": None, "code": None}},
                status=status,
            )
        response = web.json_response(
            {
                "id": f"chatcmpl-{len(self.requests)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": reply},
                    }
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }
        )
        if self.compress:
            response.enable_compression(web.ContentCoding.gzip)
        return response

    def stop(self) -> None:
        async def shutdown() -> None:
            await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def user_text(body: dict[str, Any]) -> str:
    """The last user message of a request."""
    return [m["content"] for m in body["messages"] if m["role"] == "user"][-1]
