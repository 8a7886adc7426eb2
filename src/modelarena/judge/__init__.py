"""LLM-as-a-judge: answers for a question set, judge verdicts, reports, agreement, labels.

Command line in `modelarena.cli.judge`; see docs/judge.md. Modules import nothing heavy
at import time.
"""
