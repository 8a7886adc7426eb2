"""Services: worker reconciliation against the registry, and an idempotent close."""

import asyncio

from modelarena.config import load_settings
from modelarena.serving.services import Services
from modelarena.serving.worker_registry import WorkerRecord


def test_worker_sync_keeps_a_live_worker_and_drops_a_silent_one():
    async def scenario():
        settings = load_settings(None, include_default_models=False, worker_secret="s")
        services = await Services.start(settings, use_database=False)
        record = WorkerRecord("w1", "m", "http://127.0.0.1:9/v1/", {"organization": "o"})
        await services.registry.upsert(record, ttl_s=60)
        await services.sync_workers()
        first = services.router.backends("m")
        await services.registry.upsert(record, ttl_s=60)  # a heartbeat
        await services.sync_workers()
        assert services.router.backends("m") == first  # same engine: nothing re-created
        assert first[0].engine.base_url == "http://127.0.0.1:9/v1"
        await services.registry.remove("w1")
        await services.sync_workers()
        assert services.router.model_names() == []
        await services.close()
        await services.close()

    asyncio.run(scenario())
