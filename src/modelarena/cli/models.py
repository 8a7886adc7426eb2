"""`modelarena models [list]`: the configured models and where each one loads from."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from modelarena.cli.common import ConfigOpt, settings

models = typer.Typer(help="The models this platform serves.")
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]


@models.callback(invoke_without_command=True)
def models_default(ctx: typer.Context, config: ConfigOpt = None, json_out: JsonOpt = False) -> None:
    """The models this platform serves; `modelarena models` alone lists them."""
    if ctx.invoked_subcommand is None:
        list_models(config, json_out)


@models.command("list")
def list_models(config: ConfigOpt = None, json_out: JsonOpt = False) -> None:
    """List the configured models and where each one loads from."""
    import orjson
    from rich.console import Console
    from rich.table import Table

    from modelarena.engines.model_files import ModelFileError, resolve_model_path

    chosen = settings(config)
    rows = []
    for m in chosen.models:
        if m.engine == "llamacpp":
            try:
                path = resolve_model_path(m.path, chosen.cache_dir, create=False)
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
