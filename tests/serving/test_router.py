"""Router logic: least outstanding requests, retry before the first byte, health.

The engines here are small scripted doubles of the Engine interface: this is a unit test
of the router's choices; the live tests exercise real engines."""

import asyncio

import pytest

from modelarena.engines.base import Engine, TextDelta, Usage
from modelarena.errors import APIError
from modelarena.protocol import ChatCompletionRequest
from modelarena.serving.router import Backend, Router

REQUEST = ChatCompletionRequest(model="m", messages=[{"role": "user", "content": "hi"}])


class ScriptedEngine(Engine):
    def __init__(
        self, name: str, fail_first: bool = False, alive: bool = True, down: bool = True
    ) -> None:
        self.name = name
        self.fail_first = fail_first
        self.down = down
        self.alive = alive
        self.calls = 0
        self.release = asyncio.Event()
        self.release.set()

    async def stream(self, request):
        self.calls += 1
        if self.fail_first:
            if self.down:
                raise APIError(502, "connection refused", backend_down=True)
            raise APIError(502, "upstream answered 500", retryable=True)
        await self.release.wait()
        yield TextDelta(0, self.name)
        yield TextDelta(0, "", "stop")
        yield Usage(1, 1)

    async def healthy(self) -> bool:
        return self.alive


def router_with(*engines: ScriptedEngine) -> Router:
    router = Router()
    for engine in engines:
        router.add(Backend(id=engine.name, model="m", engine=engine))
    return router


async def collect(router: Router) -> str:
    return "".join([e.text async for e in router.stream("m", REQUEST) if isinstance(e, TextDelta)])


def test_unknown_model_is_a_404_listing_served_models():
    router = router_with(ScriptedEngine("a"))
    with pytest.raises(APIError) as info:
        router.pick("zzz")
    assert info.value.status == 404 and "Served models: m." in info.value.message


def test_least_outstanding_backend_is_chosen():
    async def scenario():
        busy, idle = ScriptedEngine("busy"), ScriptedEngine("idle")
        router = router_with(busy, idle)
        router.backends()[0].outstanding = 3
        assert router.pick("m").id == "idle"

    asyncio.run(scenario())


def test_failure_before_first_byte_moves_to_another_replica():
    async def scenario():
        broken, good = ScriptedEngine("broken", fail_first=True), ScriptedEngine("good")
        router = router_with(broken, good)
        router.backends()[1].outstanding = 5  # so the broken one is tried first
        assert await collect(router) == "good"
        assert broken.calls == 1 and not router.backends()[0].healthy
        assert [b.outstanding for b in router.backends()] == [0, 5]

    asyncio.run(scenario())


def test_an_error_answer_moves_on_but_keeps_the_backend_in_service():
    async def scenario():
        flaky, good = ScriptedEngine("flaky", fail_first=True, down=False), ScriptedEngine("ok")
        router = router_with(flaky, good)
        router.backends()[1].outstanding = 5
        assert await collect(router) == "ok"
        assert router.backends()[0].healthy  # a 500 is not an outage

    asyncio.run(scenario())


def test_all_replicas_failing_reports_the_error_then_503():
    async def scenario():
        router = router_with(ScriptedEngine("x", fail_first=True))
        with pytest.raises(APIError) as first:
            await collect(router)
        assert first.value.status == 502
        with pytest.raises(APIError) as second:
            await collect(router)
        assert second.value.status == 503 and second.value.headers["Retry-After"]

    asyncio.run(scenario())


def test_outstanding_counts_a_running_stream_until_it_ends():
    async def scenario():
        engine = ScriptedEngine("a")
        engine.release.clear()
        router = router_with(engine)
        task = asyncio.create_task(collect(router))
        await asyncio.sleep(0.01)
        assert router.backends()[0].outstanding == 1
        engine.release.set()
        assert await task == "a"
        assert router.backends()[0].outstanding == 0

    asyncio.run(scenario())


def test_health_check_takes_a_backend_out_and_brings_it_back():
    async def scenario():
        engine = ScriptedEngine("a", alive=False)
        router = router_with(engine)
        await router.check_health()
        assert not router.backends()[0].healthy
        engine.alive = True
        await router.check_health()
        assert router.backends()[0].healthy

    asyncio.run(scenario())
