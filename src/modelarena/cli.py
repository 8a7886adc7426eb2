"""The `modelarena` command line: one Typer app that registers every command.

Command modules keep their heavy imports inside the command body so that a quick command
(`leaderboard`, `models`) does not pay for the web stack at start-up.
"""

import typer

from modelarena.arena import commands as arena
from modelarena.rating.command import leaderboard
from modelarena.serving import commands as serving

app = typer.Typer(
    help="Serve language models, battle them blind, rank them from votes, judge them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

app.command()(serving.serve)
app.command()(serving.worker)
app.command()(serving.models)
app.add_typer(serving.keys, name="keys")

app.command("leaderboard")(leaderboard)
app.add_typer(arena.export, name="export")
app.add_typer(arena.importer, name="import")
app.add_typer(arena.scores, name="scores")

from modelarena.judge.cli import judge_app, label  # noqa: E402  (imports only typer)

app.add_typer(judge_app, name="judge")
app.command("label")(label)


if __name__ == "__main__":
    app()
