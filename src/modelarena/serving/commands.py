"""CLI commands of the serving layer: `serve`, `worker`, `models` and `keys`.

Imports of the web stack and llama.cpp happen inside the commands, so other commands
start fast.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="YAML settings file", dir_okay=False)
]
DbOpt = Annotated[str | None, typer.Option("--db", help="SQLAlchemy database URL")]


def _settings(config: Path | None, **overrides: Any):
    from modelarena.config import load_settings

    try:
        return load_settings(config, **overrides)
    except Exception as exc:  # pydantic's message names the bad field
        _fail(f"invalid configuration: {exc}")


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", fg="red", err=True)
    raise typer.Exit(2)


def _logging() -> None:
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    for noisy in ("alembic", "httpx", "httpcore"):  # one line per upstream call is too much
        logging.getLogger(noisy).setLevel(logging.WARNING)


def serve(
    host: Annotated[str | None, typer.Option(help="address to bind [127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="port [8000]")] = None,
    config: ConfigOpt = None,
    db: DbOpt = None,
    redis: Annotated[str | None, typer.Option(help="Redis URL: shared limits and workers")] = None,
) -> None:
    """Start the platform: the OpenAI-compatible API and every configured model."""
    settings = _settings(config, host=host, port=port, db_url=db, redis_url=redis)
    _logging()
    from modelarena.serving.server import run_server

    raise typer.Exit(run_server(settings))


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
    from modelarena.serving.registry import WorkerRecord
    from modelarena.serving.server import run_server
    from modelarena.serving.worker import Announcer

    secret = secret or os.environ.get("MODELARENA_WORKER_SECRET")
    if not gateway and not redis:
        _fail("give --gateway URL (or --redis URL) so the worker can register")
    base = _settings(config)
    known = base.model(model)
    if known is not None:
        model_config = known.model_copy(update={"name": name})
    elif Path(model).expanduser().is_file():
        template = chat_template.read_text() if chat_template else None
        model_config = ModelConfig(
            name=name, path=str(Path(model).expanduser().resolve()), chat_template=template
        )
    else:
        _fail(
            f"--model {model!r} is neither a GGUF file nor a configured model "
            f"({', '.join(m.name for m in base.models)})"
        )
    settings = _settings(
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
        redis_prefix=settings.redis_prefix,
        secret=secret,
        heartbeat_s=heartbeat,
    )
    _logging()
    raise typer.Exit(run_server(settings, use_database=False, announcer=announcer))


def models(
    config: ConfigOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """List the configured models and where each one loads from."""
    import orjson
    from rich.console import Console
    from rich.table import Table

    from modelarena.engines.model_files import ModelFileError, resolve_model_path

    settings = _settings(config)
    rows = []
    for m in settings.models:
        if m.engine == "llamacpp":
            try:
                path = resolve_model_path(m.path, settings.cache_dir, create=False)
                where = str(path) + ("" if path.is_file() else "  (written on first start)")
            except ModelFileError as exc:
                where = f"MISSING: {exc}"
        else:
            where = f"{m.base_url} as {m.upstream_model or m.name}"
        rows.append(
            {
                "name": m.name,
                "engine": m.engine,
                "source": m.path or m.base_url,
                "loads_from": where,
                **m.public_metadata(),
            }
        )
    if json_out:
        sys.stdout.write(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    table = Table(title="Configured models")
    for column in ("name", "engine", "organization", "license", "context", "vision", "loads from"):
        table.add_column(column, overflow="fold", no_wrap=column == "name")
    for r in rows:
        table.add_row(
            r["name"],
            r["engine"],
            r["organization"] or "",
            r["license"] or "",
            str(r["context_length"] or ""),
            "yes" if r["vision"] else "",
            r["loads_from"],
        )
    Console().print(table)


keys = typer.Typer(
    help="Create, list and revoke gateway API keys (stored hashed).", no_args_is_help=True
)


def _database(config: Path | None, db: str | None):
    from modelarena.store.db import Database

    settings = _settings(config, db_url=db)
    database = Database(settings.database_url)
    database.migrate()
    return database


@keys.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="who or what the key is for")],
    rpm: Annotated[
        int | None, typer.Option(help="requests per minute for this key", min=0, max=2**31 - 1)
    ] = None,
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """Create a key and print it once; only its hash is stored."""
    from modelarena.store import repo

    info, key = repo.create_api_key(_database(config, db), name, rpm)
    typer.echo(key)
    typer.secho(
        f"key {info.id} ({info.name}) created; store it now, it is not shown again", err=True
    )


@keys.command("list")
def keys_list(config: ConfigOpt = None, db: DbOpt = None) -> None:
    """List keys (ids, names, prefixes, limits, state)."""
    from rich.console import Console
    from rich.table import Table

    from modelarena.store import repo

    table = Table()
    for column in ("id", "name", "prefix", "rpm", "created", "state"):
        table.add_column(column)
    for k in repo.list_api_keys(_database(config, db)):
        table.add_row(
            str(k.id),
            k.name,
            k.prefix + "…",
            str(k.rpm_limit or "default"),
            k.created_at.strftime("%Y-%m-%d %H:%M"),
            "revoked" if k.revoked_at else "active",
        )
    Console().print(table)


@keys.command("revoke")
def keys_revoke(
    key_id: Annotated[int, typer.Argument(help="the key's id (see `keys list`)")],
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """Revoke a key; running gateways refuse it within 10 seconds."""
    from modelarena.store import repo

    if not repo.revoke_api_key(_database(config, db), key_id):
        _fail(f"no active key with id {key_id}")
    typer.echo(f"key {key_id} revoked")
