"""modelarena: serve language models, battle them blind, rank them from votes, judge them.

The package is organised by data flow: engines -> serving -> arena -> store -> rating,
with judge beside them. See docs/architecture.md.
"""

__version__ = "0.1.0"
