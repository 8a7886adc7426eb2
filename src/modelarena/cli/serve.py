"""`modelarena serve` (the platform) and `modelarena worker` (one local model that
registers with a gateway). The web stack and llama.cpp load inside the commands."""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path
from typing import Annotated

import typer

from modelarena.cli.common import ConfigOpt, DbOpt, fail, server_logging, settings


def serve(
    host: Annotated[str | None, typer.Option(help="address to bind [127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="port [8000]")] = None,
    config: ConfigOpt = None,
    db: DbOpt = None,
    redis: Annotated[str | None, typer.Option(help="Redis URL: shared limits and workers")] = None,
) -> None:
    """Start the platform: the OpenAI-compatible API and every configured model."""
    chosen = settings(config, host=host, port=port, db_url=db, redis_url=redis)
    server_logging()
    from modelarena.platform import run

    raise typer.Exit(run(chosen))


def worker(
    model: Annotated[str, typer.Option(help="a GGUF path, or the name of a configured model")],
    name: Annotated[str, typer.Option(help="the model name to serve under")],
    gateway: Annotated[str | None, typer.Option(help="gateway URL to register with")] = None,
    redis: Annotated[str | None, typer.Option(help="register in this Redis instead")] = None,
    secret: Annotated[
        str | None, typer.Option(help="shared worker secret [$MODELARENA_WORKER_SECRET]")
    ] = None,
    host: Annotated[str, typer.Option(help="address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to bind")] = 8001,
    advertise_url: Annotated[
        str | None,
        typer.Option(help="URL the gateway uses to reach this worker [http://HOST:PORT/v1]"),
    ] = None,
    heartbeat: Annotated[float, typer.Option(help="seconds between heartbeats")] = 5.0,
    chat_template: Annotated[
        Path | None,
        typer.Option(help="Jinja chat template file, for a GGUF without one", dir_okay=False),
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Serve one local model over the OpenAI protocol and register with a gateway."""
    from modelarena.config import ModelConfig
    from modelarena.platform import run
    from modelarena.serving.worker import Announcer
    from modelarena.serving.worker_registry import WorkerRecord

    secret = secret or os.environ.get("MODELARENA_WORKER_SECRET")
    if not gateway and not redis:
        fail("give --gateway URL (or --redis URL) so the worker can register")
    base = settings(config)
    known = base.model(model)
    if known is not None:
        model_config = known.model_copy(update={"name": name})
    elif Path(model).expanduser().is_file():
        template = chat_template.read_text() if chat_template else None
        model_config = ModelConfig(
            name=name, path=str(Path(model).expanduser().resolve()), chat_template=template
        )
    else:
        fail(
            f"--model {model!r} is neither a GGUF file nor a configured model "
            f"({', '.join(m.name for m in base.models)})"
        )
    chosen = settings(
        config,
        host=host,
        port=port,
        models=[model_config.model_dump()],
        include_default_models=False,
        api_keys=[secret] if secret else [],
        auth_required=bool(secret),
    )
    url = (advertise_url or f"http://{host}:{port}/v1").rstrip("/")
    worker_id = re.sub(r"[^A-Za-z0-9._-]", "-", name) + "-" + secrets.token_hex(4)
    announcer = Announcer(
        WorkerRecord(worker_id, name, url, model_config.public_metadata()),
        gateway_url=gateway,
        redis_url=redis,
        redis_prefix=chosen.redis_prefix,
        secret=secret,
        heartbeat_s=heartbeat,
    )
    server_logging()
    raise typer.Exit(run(chosen, use_database=False, announcer=announcer))
