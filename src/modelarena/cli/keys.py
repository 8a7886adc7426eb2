"""`modelarena keys create|list|revoke`: the gateway's API keys, stored hashed."""

from __future__ import annotations

from typing import Annotated

import typer

from modelarena.cli.common import ConfigOpt, DbOpt, database, fail, table

keys = typer.Typer(
    help="Create, list and revoke gateway API keys (stored hashed).", no_args_is_help=True
)


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

    info, key = repo.create_api_key(database(config, db), name, rpm)
    typer.echo(key)
    typer.secho(
        f"key {info.id} ({info.name}) created; store it now, it is not shown again", err=True
    )


@keys.command("list")
def keys_list(config: ConfigOpt = None, db: DbOpt = None) -> None:
    """List keys (ids, names, prefixes, limits, state)."""
    from rich.console import Console

    from modelarena.store import repo

    listing = table()
    for column in ("id", "name", "prefix", "rpm", "created", "state"):
        listing.add_column(column)
    for k in repo.list_api_keys(database(config, db)):
        listing.add_row(
            str(k.id),
            k.name,
            k.prefix + "…",
            str(k.rpm_limit or "default"),
            k.created_at.strftime("%Y-%m-%d %H:%M"),
            "revoked" if k.revoked_at else "active",
        )
    Console().print(listing)


@keys.command("revoke")
def keys_revoke(
    key_id: Annotated[int, typer.Argument(metavar="ID", help="the key's id (see `keys list`)")],
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """Revoke a key; running gateways refuse it within 10 seconds."""
    from modelarena.store import repo

    if not repo.revoke_api_key(database(config, db), key_id):
        fail(f"no active key with id {key_id}")
    typer.echo(f"key {key_id} revoked")
