"""LLM-as-a-judge: answers for a question set, judge verdicts, reports, agreement, labels.

Command line in `judge.cli`; see docs/judge.md. Modules import nothing heavy at import time.
"""
