"""`python -m modelarena.cli`: the command line."""

from modelarena.cli import app

app()
