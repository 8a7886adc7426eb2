"""`modelarena models list|show|add|update|pause|resume|retire|import|test|secret-key`:
the model registry, read and changed in the database (the server may be up or down; a
running one follows within seconds). Changes go through the same catalog as the admin API.
"""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from modelarena.cli.common import ConfigOpt, DbOpt, fail, reachable, settings, shorten, table

models = typer.Typer(help="The model registry: list, add, change, pause and retire models.")
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]
NameArg = Annotated[str, typer.Argument(metavar="NAME", help="the model's name")]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KEY=VALUE",
        help="any definition field as KEY=VALUE (VALUE read as YAML), e.g. "
        "--set sampling='{temperature: 0.2}'; repeatable",
    ),
]
FileOpt = Annotated[
    Path | None,
    typer.Option("--file", "-f", help="a YAML or JSON definition, as in the config file"),
]
NoCheckOpt = Annotated[
    bool, typer.Option("--no-check", help="store without probing the upstream or file")
]


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _open(config: Path | None, db: str | None):
    """The settings and a catalog over their database (migrated, config models seeded)."""
    from modelarena.serving.catalog import Catalog, seed
    from modelarena.store.db import Database

    chosen = settings(config, db_url=db)
    database = Database(chosen.database_url)
    database.migrate()
    _run(lambda: seed(chosen, database))
    return chosen, Catalog(chosen, database)


def _run(call):
    """Run a catalog call (awaiting it if it is a coroutine); an error is one line."""
    import asyncio
    import inspect

    from modelarena.errors import APIError
    from modelarena.secret_box import SecretKeyError

    try:
        result = call()
        return asyncio.run(result) if inspect.iscoroutine(result) else result
    except (APIError, SecretKeyError) as exc:
        fail(getattr(exc, "message", str(exc)))


def _fields(file: Path | None, sets: list[str] | None) -> dict[str, Any]:
    import yaml

    fields: dict[str, Any] = {}
    if file is not None:
        try:
            loaded = yaml.safe_load(file.read_text())
        except (OSError, yaml.YAMLError) as exc:
            fail(f"cannot read {file}: {exc}")
        if not isinstance(loaded, dict):
            fail(f"{file} must hold one model's definition (a mapping)")
        fields.update(loaded)
    for item in sets or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            fail(f"--set takes KEY=VALUE, not {item!r}")
        try:
            fields[key.strip()] = yaml.safe_load(value) if value else None
        except yaml.YAMLError as exc:
            fail(f"--set {key}: {exc}")
    return fields


def _print_json(value: Any) -> None:
    import orjson

    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")


def _summary(entry) -> dict[str, Any]:
    definition = dict(entry.definition)
    return {
        "name": entry.name,
        "source": entry.source,
        "state": entry.state,
        "engine": definition.get("engine", "llamacpp"),
        "loads_from": definition.get("path") or definition.get("base_url"),
        "definition": definition,
        "has_api_key": entry.secret is not None,
        "revision": entry.revision,
        "added_at": entry.added_at.isoformat(),
        "paused_at": entry.paused_at.isoformat() if entry.paused_at else None,
        "retired_at": entry.retired_at.isoformat() if entry.retired_at else None,
    }


@models.callback(invoke_without_command=True)
def models_default(
    ctx: typer.Context, config: ConfigOpt = None, db: DbOpt = None, json_out: JsonOpt = False
) -> None:
    """The model registry; `modelarena models` alone lists it."""
    if ctx.invoked_subcommand is None:
        list_models(config, db, json_out)


@models.command("list")
def list_models(config: ConfigOpt = None, db: DbOpt = None, json_out: JsonOpt = False) -> None:
    """Every registered model: where it comes from, its state and where it loads from."""
    from rich.console import Console

    _, catalog = _open(config, db)
    rows = [_summary(entry) for entry in catalog.models()]
    if json_out:
        _print_json(rows)
        return
    cells = [
        [row["name"], row["state"], row["source"], row["engine"], str(row["loads_from"] or "")]
        for row in rows
    ]
    console = Console()
    listing = table("Registered models (`models show NAME` for one in full)")
    widths = _list_widths(cells, console.width)
    for name, size in zip(LIST_HEADER, widths, strict=True):
        listing.add_column(name, width=size, no_wrap=True)
    for line in cells:
        listing.add_row(*(shorten(cell, size) for cell, size in zip(line, widths, strict=True)))
    console.print(listing)


LIST_HEADER = ("name", "state", "source", "engine", "loads from")


def _list_widths(cells: list[list[str]], width: int) -> list[int]:
    """The list's column widths in a terminal `width` wide: state, source and engine whole,
    the name whole unless that leaves "loads from" under 12 characters, the path the rest
    (shortened in the middle, so its file name or host and port stay)."""
    natural = [
        max([len(name)] + [len(row[i]) for row in cells]) for i, name in enumerate(LIST_HEADER)
    ]
    room = width - 2 * (len(LIST_HEADER) - 1) - sum(natural[1:4])
    name = max(len(LIST_HEADER[0]), min(natural[0], room - min(natural[4], 12)))
    path = max(len(LIST_HEADER[4]), min(natural[4], room - name))
    return [name, *natural[1:4], path]


@models.command("show")
def show_model(
    name: NameArg, config: ConfigOpt = None, db: DbOpt = None, json_out: JsonOpt = False
) -> None:
    """One model's definition, state and the history of its changes."""
    import yaml

    _, catalog = _open(config, db)
    entry = _run(lambda: catalog.model(name))
    history = [
        {
            "at": c.created_at.isoformat(timespec="seconds"),
            "actor": c.actor,
            "action": c.action,
            "before": c.before,
            "after": c.after,
        }
        for c in catalog.history(name, limit=20)
    ]
    shown = _summary(entry) | {"history": history}
    if json_out:
        _print_json(shown)
        return
    shown["history"] = [f"{h['at']}  {h['action']:<7} by {h['actor']}" for h in history]
    dumper = _readable_dumper()
    typer.echo(yaml.dump(shown, Dumper=dumper, sort_keys=False, allow_unicode=True).rstrip())


def _readable_dumper():
    """A YAML dumper that writes text with line breaks as a block (chat templates)."""
    import yaml

    class Readable(yaml.SafeDumper):
        pass

    def text(dumper, value: str):
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Readable.add_representer(str, text)
    return Readable


@models.command("add")
def add_model(
    name: NameArg,
    path: Annotated[
        str | None, typer.Option(help="a GGUF file, package:MODULE/FILE or assemble:MODULE")
    ] = None,
    base_url: Annotated[
        str | None, typer.Option(help="an OpenAI-compatible upstream, e.g. http://host:8000/v1")
    ] = None,
    upstream_model: Annotated[
        str | None, typer.Option(help="the upstream's name for the model")
    ] = None,
    api_key_env: Annotated[
        str | None, typer.Option(help="environment variable holding the upstream's key")
    ] = None,
    api_key_stdin: Annotated[
        bool,
        typer.Option(
            "--api-key-stdin", help="read the upstream's key from stdin; stored encrypted"
        ),
    ] = False,
    sets: SetOpt = None,
    file: FileOpt = None,
    no_check: NoCheckOpt = False,
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """Add a model; running servers serve it within seconds (a GGUF once loaded)."""
    fields = _fields(file, sets)
    given = {"path": path, "base_url": base_url, "upstream_model": upstream_model}
    fields.update({key: value for key, value in given.items() if value is not None})
    if api_key_env:
        fields["api_key_env"] = api_key_env
    if "engine" not in fields:
        fields["engine"] = "openai" if fields.get("base_url") else "llamacpp"
    if api_key_stdin:
        fields["api_key"] = sys.stdin.readline().strip()
    fields["name"] = name
    _, catalog = _open(config, db)
    entry = _run(lambda: catalog.add(fields, _actor(), check=not no_check))
    typer.echo(
        f"added {entry.name} ({fields['engine']}); running servers pick it up within seconds"
    )


@models.command("update")
def update_model(
    name: NameArg,
    sets: SetOpt = None,
    file: FileOpt = None,
    api_key_stdin: Annotated[
        bool, typer.Option("--api-key-stdin", help="read a new key for the upstream from stdin")
    ] = False,
    no_check: NoCheckOpt = False,
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """Change fields of a runtime model (--set KEY= returns one to its default)."""
    fields = _fields(file, sets)
    if api_key_stdin:
        fields["api_key"] = sys.stdin.readline().strip()
    if not fields:
        fail("nothing to change: give --set KEY=VALUE, --file or --api-key-stdin")
    _, catalog = _open(config, db)
    entry = _run(lambda: catalog.update(name, fields, _actor(), check=not no_check))
    typer.echo(f"updated {entry.name} (revision {entry.revision})")


def _set_state(name: str, state: str, config: Path | None, db: str | None) -> None:
    _, catalog = _open(config, db)
    entry = _run(lambda: catalog.set_state(name, state, _actor()))
    typer.echo(f"{entry.name} is {entry.state}")


@models.command("pause")
def pause_model(name: NameArg, config: ConfigOpt = None, db: DbOpt = None) -> None:
    """Stop sending new requests to a model; those in flight finish."""
    _set_state(name, "paused", config, db)


@models.command("resume")
def resume_model(name: NameArg, config: ConfigOpt = None, db: DbOpt = None) -> None:
    """Serve a paused or retired model again."""
    _set_state(name, "active", config, db)


@models.command("retire")
def retire_model(name: NameArg, config: ConfigOpt = None, db: DbOpt = None) -> None:
    """Take a model out of service for good; its votes and ratings stay."""
    _set_state(name, "retired", config, db)


@models.command("import")
def import_models(
    from_url: Annotated[
        str, typer.Option("--from", help="the upstream's base URL, e.g. http://host:8000/v1")
    ],
    api_key_env: Annotated[
        str | None, typer.Option(help="environment variable holding the upstream's key")
    ] = None,
    prefix: Annotated[str, typer.Option(help="put before each name here")] = "",
    model: Annotated[
        list[str] | None,
        typer.Option("--model", "-m", metavar="<str>", help="an upstream model id; repeatable"),
    ] = None,
    all_models: Annotated[bool, typer.Option("--all", help="every model it lists")] = False,
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """Add the models an OpenAI-compatible upstream lists that you pick (--model, --all)."""
    import os

    from modelarena.serving.catalog import upstream_models

    key = None
    if api_key_env:
        key = os.environ.get(api_key_env)
        if key is None:
            fail(f"environment variable {api_key_env} is not set")
    reachable(from_url)
    listed = _run(lambda: upstream_models(from_url, key))
    if not model and not all_models:
        typer.echo(f"{from_url} lists {len(listed)} models:")
        for name in listed:
            typer.echo(f"  {name}")
        fail("choose with --model ID (repeatable) or --all")
    chosen = listed if all_models else list(dict.fromkeys(model or []))
    unknown = [name for name in chosen if name not in listed]
    if unknown:
        fail(f"{from_url} does not list {', '.join(unknown)}; it lists: {', '.join(listed)}")
    _, catalog = _open(config, db)
    fields = [
        {
            "name": prefix + upstream,
            "engine": "openai",
            "base_url": from_url,
            "upstream_model": upstream,
            **({"api_key_env": api_key_env} if api_key_env else {}),
        }
        for upstream in chosen
    ]
    from modelarena.serving.catalog import parse_definition

    for definition in fields:  # every name checked before the first is stored
        _run(lambda d=definition: parse_definition(d))
        if any(entry.name == definition["name"] for entry in catalog.models()):
            fail(f"a model named {definition['name']!r} exists already; nothing was imported")
    for definition in fields:
        entry = _run(lambda d=definition: catalog.add(d, _actor(), check=False))
        typer.echo(f"added {entry.name} ({from_url} as {definition['upstream_model']})")


@models.command("test")
def test_model(
    name: Annotated[str | None, typer.Argument(metavar="NAME", help="a registered model")] = None,
    sets: SetOpt = None,
    file: FileOpt = None,
    prompt: Annotated[str, typer.Option(help="what to send")] = "",
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """Send one prompt to a model's definition on an engine of its own; nothing is stored."""
    from modelarena.serving.catalog import TRIAL_PROMPT

    _, catalog = _open(config, db)
    fields = dict(_run(lambda: catalog.model(name)).definition) if name else {}
    fields.update(_fields(file, sets))
    if "name" not in fields:
        fail("name a registered model, or give a definition with --file/--set name=…")
    trial = _run(lambda: catalog.try_out(fields, prompt or TRIAL_PROMPT))
    typer.echo(trial.answer.strip())
    typer.secho(
        f"{trial.latency_ms:.0f} ms (first token {trial.first_token_ms:.0f} ms), "
        f"{trial.completion_tokens} tokens, "
        f"finish: {trial.finish_reason}",
        err=True,
    )


@models.command("secret-key")
def secret_key() -> None:
    """Print a new key for MODELARENA_SECRET_KEY (which encrypts stored upstream keys)."""
    from modelarena.secret_box import new_key

    typer.echo(new_key())
