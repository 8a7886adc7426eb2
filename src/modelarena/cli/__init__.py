"""The `modelarena` command line: one Typer app, its commands as nouns and verbs
(`battles export`, `scores import`, `judge label`). Command modules import only typer at
the top; each command loads what it needs, so a quick command starts fast.

Help and usage errors are Click's plain text (no Rich panels): flags show no value
placeholder, and option lists and errors keep their words whole in an 80-column terminal.
"""

import typer

from modelarena.cli.battles import battles, conversations, export, importer
from modelarena.cli.common import Group
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
    rich_markup_mode=None,  # every group and command below takes it from here
    cls=Group,
)

app.command()(serve)
app.command()(worker)
app.add_typer(models, name="models", cls=Group)
app.add_typer(keys, name="keys", cls=Group)
app.command("leaderboard")(leaderboard)
app.add_typer(battles, name="battles", cls=Group)
app.add_typer(conversations, name="conversations", cls=Group)
app.add_typer(scores, name="scores", cls=Group)
app.add_typer(judge, name="judge", cls=Group)
app.add_typer(train, name="train", cls=Group)
# Older spellings, kept for one release: `export battles|conversations`, `import battles`,
# `label`.
app.add_typer(export, name="export", hidden=True, cls=Group)
app.add_typer(importer, name="import", hidden=True, cls=Group)
app.command("label", hidden=True)(label)
