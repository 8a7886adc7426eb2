"""The `modelarena` command line: one Typer app, its commands as nouns and verbs
(`battles export`, `scores import`, `judge label`). Command modules import only typer at
the top; each command loads what it needs, so a quick command starts fast.
"""

import typer

from modelarena.cli.battles import battles, conversations, export, importer
from modelarena.cli.judge import judge, label
from modelarena.cli.keys import keys
from modelarena.cli.leaderboard import leaderboard
from modelarena.cli.models import models
from modelarena.cli.scores import scores
from modelarena.cli.serve import serve, worker
from modelarena.cli.train import train

app = typer.Typer(
    help="Serve language models, battle them blind, rank them from votes, judge them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

app.command()(serve)
app.command()(worker)
app.add_typer(models, name="models")
app.add_typer(keys, name="keys")
app.command("leaderboard")(leaderboard)
app.add_typer(battles, name="battles")
app.add_typer(conversations, name="conversations")
app.add_typer(scores, name="scores")
app.add_typer(judge, name="judge")
app.add_typer(train, name="train")
# Older spellings, kept for one release: `export battles|conversations`, `import battles`,
# `label`.
app.add_typer(export, name="export", hidden=True)
app.add_typer(importer, name="import", hidden=True)
app.command("label", hidden=True)(label)
