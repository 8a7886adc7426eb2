"""`modelarena judge answers|run|show|agreement|from-battles|label`. Only typer is
imported here; each command loads what it needs."""

from __future__ import annotations

import sys
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from modelarena.cli.common import fail, reachable, warn

judge = typer.Typer(
    help="Answer question sets, grade answers with an LLM judge, report, calibrate.",
    no_args_is_help=True,
)


class Mode(StrEnum):
    single = "single"
    pairwise_baseline = "pairwise-baseline"
    pairwise_all = "pairwise-all"


class Format(StrEnum):
    table = "table"
    json = "json"


Endpoint = Annotated[
    str | None,
    typer.Option(
        help="OpenAI-compatible base URL (default: this machine's modelarena gateway, at the "
        "host and port of its settings: http://127.0.0.1:8000/v1 unless changed)."
    ),
]
ApiKeyEnv = Annotated[
    str | None, typer.Option(help="Environment variable holding the endpoint's API key.")
]
Concurrency = Annotated[int, typer.Option(min=1, help="Requests in flight at most.")]
Retries = Annotated[
    int, typer.Option(min=0, help="Retries of a failed request (backoff doubles from 1 s).")
]


@contextmanager
def _errors() -> Iterator[None]:
    """Errors a user can act on: one `Error:` line on stderr, exit status 1."""
    from modelarena.judge.client import CallError
    from modelarena.judge.errors import JudgeError

    try:
        yield
    except (JudgeError, CallError, ValueError) as exc:
        fail(str(exc), status=1)
    except OSError as exc:  # a file that cannot be read or written
        where = f": {exc.filename}" if exc.filename else ""
        fail(f"{exc.strerror or exc}{where}", status=1)


def _with_client(
    endpoint: str | None,
    api_key_env: str | None,
    concurrency: int,
    retries: int,
    work: Callable[[Any], Coroutine[Any, Any, Any]],
) -> Any:
    """Run `work(client)` in a fresh event loop with one ChatClient, closed afterwards;
    an endpoint that takes no connection stops the command before any work starts."""
    import asyncio

    from modelarena.judge.client import ChatClient, api_key_from_env, gateway_endpoint

    key = api_key_from_env(api_key_env)
    endpoint = endpoint or gateway_endpoint()
    reachable(endpoint, status=1)

    async def main() -> Any:
        client = ChatClient(endpoint, key, concurrency=concurrency, retries=retries)
        try:
            return await work(client)
        finally:
            await client.close()

    return asyncio.run(main())


@judge.command()
def answers(
    questions: Annotated[
        Path, typer.Option(help="Question file: MT-Bench or Arena-Hard JSON lines.")
    ],
    model: Annotated[str, typer.Option(help="Model to answer with.")],
    endpoint: Endpoint = None,
    api_key_env: ApiKeyEnv = None,
    concurrency: Concurrency = 8,
    out: Annotated[
        Path | None,
        typer.Option(help="Answer directory (default: model_answer/ beside the question file)."),
    ] = None,
    max_tokens: Annotated[int, typer.Option(min=1, help="Tokens per answer turn at most.")] = 1024,
    temperature: Annotated[
        float | None,
        typer.Option(help="One temperature for every category (default: MT-Bench's per category)."),
    ] = None,
    temperatures: Annotated[
        Path | None,
        typer.Option(help="YAML/JSON file: category -> temperature; key `default` for the rest."),
    ] = None,
    system_prompt: Annotated[
        str | None,
        typer.Option(help="System prompt to send (default: none; the server's own applies)."),
    ] = None,
    retries: Retries = 5,
) -> None:
    """Answer every turn of every question, keeping the dialogue.

    Finished answers are skipped, so an interrupted run continues where it stopped.
    """
    with _errors():
        from modelarena.judge import generate
        from modelarena.judge.questions import read_questions

        if temperature is not None and temperatures is not None:
            raise ValueError("give --temperature or --temperatures, not both")
        table = (
            generate.load_temperatures(temperatures)
            if temperatures
            else generate.Temperatures({}, temperature)
            if temperature is not None
            else generate.Temperatures()
        )
        items = read_questions(questions)
        out = out or questions.resolve().parent / "model_answer"
        run = _with_client(
            endpoint,
            api_key_env,
            concurrency,
            retries,
            lambda client: generate.generate_answers(
                items, model, out, client, table, max_tokens, system_prompt
            ),
        )
        typer.echo(generate.describe(run))
        if run.failures:
            fail("some answers failed; run the command again to retry them", status=1)


@judge.command()
def run(
    mode: Annotated[Mode, typer.Option(help="Grade each answer, or compare pairs in both orders.")],
    judge_model: Annotated[str, typer.Option(help="The judge model's name at the endpoint.")],
    answers: Annotated[Path, typer.Option(help="Answer directory (or one file).")],
    judge_endpoint: Endpoint = None,
    api_key_env: ApiKeyEnv = None,
    questions: Annotated[
        Path | None,
        typer.Option(help="Question file (default: question.jsonl beside the answer directory)."),
    ] = None,
    baseline: Annotated[
        str | None, typer.Option(help="The model every other is compared with (pairwise-baseline).")
    ] = None,
    model: Annotated[
        list[str] | None,
        typer.Option(
            metavar="<str>", help="Judge only these models (repeatable; default: all with answers)."
        ),
    ] = None,
    reference: Annotated[
        Path | None,
        typer.Option(help="Reference answers (model_answer format) for reference-guided grading."),
    ] = None,
    reference_categories: Annotated[
        str, typer.Option(help="Comma-separated categories graded against references.")
    ] = "math,reasoning,coding",
    prompts: Annotated[
        Path | None,
        typer.Option(
            help="Judge prompts in MT-Bench's judge_prompts.jsonl format (default: ours)."
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Judgment file (default: model_judgment/ beside the answer directory, "
            "named <judge>_<prompts>_<single|pair>.jsonl)."
        ),
    ] = None,
    concurrency: Concurrency = 16,
    max_tokens: Annotated[int, typer.Option(min=1, help="Tokens per verdict at most.")] = 2048,
    retries: Retries = 5,
) -> None:
    """Ask the judge for every verdict the mode needs that the judgment file lacks.

    Pairs are judged in both orders; verdicts that do not parse are kept with their text.
    """
    with _errors():
        from modelarena.judge import run as runner
        from modelarena.judge.answers import read_answers, read_references
        from modelarena.judge.judgments import default_path
        from modelarena.judge.prompts import load_prompts
        from modelarena.judge.questions import read_questions

        given = read_answers(answers)
        items = read_questions(questions or answers.resolve().parent / "question.jsonl")
        prompt_set = load_prompts(prompts)
        jobs = runner.plan(
            mode.value,
            items,
            given,
            prompt_set,
            references=read_references(reference) if reference else None,
            reference_categories=[c.strip() for c in reference_categories.split(",")],
            baseline=baseline,
            models=model,
        )
        kind = "single" if mode is Mode.single else "pairwise"
        out = out or default_path(answers, judge_model, prompt_set.name, kind)
        result = _with_client(
            judge_endpoint,
            api_key_env,
            concurrency,
            retries,
            lambda client: runner.judge(
                jobs, client, judge_model, prompt_set.name, out, max_tokens=max_tokens
            ),
        )
        typer.echo(
            f"{result.written} judgments written ({result.parse_failures} without a "
            f"readable verdict, kept with their raw text), {result.skipped} already "
            f"done, of {result.planned} -> {result.path}"
        )
        if result.errors:
            first = next(iter(result.errors.values()))
            fail(
                f"{len(result.errors)} judge calls failed (first: {first}); "
                "run the command again to retry them",
                status=1,
            )


@judge.command()
def show(
    judgments: Annotated[
        list[Path], typer.Argument(metavar="JUDGMENTS", help="Judgment files or directories.")
    ],
    judge: Annotated[str | None, typer.Option(help="Report this judge's verdicts.")] = None,
    baseline: Annotated[
        str | None,
        typer.Option(
            help="Score models as win rate against this one (default: the model in every game)."
        ),
    ] = None,
    strong_weight: Annotated[
        int, typer.Option(min=1, help="A strong verdict ([[A>>B]]) counts as this many games.")
    ] = 3,
    style_control: Annotated[
        bool,
        typer.Option("--style-control", help="Control the scores for answer length and markdown."),
    ] = False,
    bootstrap_rounds: Annotated[
        int, typer.Option(min=0, help="Bootstrap rounds for score intervals (0: none).")
    ] = 100,
    format: Annotated[Format, typer.Option(help="Terminal tables or JSON.")] = Format.table,
    output: Annotated[Path | None, typer.Option(help="Write the table/JSON here.")] = None,
    html: Annotated[Path | None, typer.Option(help="Also write an HTML report with plots.")] = None,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    l2: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="L2 penalty on the ratings (w = (rating − 1000)/400), for few games "
            "where a model never lost or never won.",
        ),
    ] = 0.0,
) -> None:
    """MT-Bench grades, pairwise win rates and Bradley–Terry scores from judgments."""
    with _errors():
        from rich.console import Console

        from modelarena.judge import report as reports
        from modelarena.judge.judgments import read_judgments

        result = reports.build_report(
            read_judgments(judgments),
            judge=judge,
            baseline=baseline,
            strong_weight=strong_weight,
            style_control=style_control,
            rounds=bootstrap_rounds,
            seed=seed,
            l2=l2,
        )
        with _sink(output) as stream:
            if format is Format.json:
                stream.write(reports.to_json(result) + "\n")
            else:
                reports.print_report(result, Console(file=stream, width=160))
        if html is not None:
            from modelarena.judge.report_html import render_html

            html.write_text(render_html(result), encoding="utf-8")


@judge.command()
def agreement(
    judgments: Annotated[
        list[Path],
        typer.Option(
            metavar="<path>",
            help="Pairwise judgment file or directory (repeatable: judges are also compared "
            "with each other).",
        ),
    ],
    votes: Annotated[
        str | None,
        typer.Option(
            help="Human votes: a battle file (FastChat clean_battle .json/.jsonl/.csv/.parquet) "
            "or the arena database URL (sqlite:///..., postgresql+psycopg://...)."
        ),
    ] = None,
    format: Annotated[Format, typer.Option(help="Terminal table or JSON.")] = Format.table,
    output: Annotated[Path | None, typer.Option(help="Write the table/JSON here.")] = None,
) -> None:
    """Agreement of judges with human votes and with each other, and Cohen's κ.

    Compared on the same (question, turn, model pair), with and without ties, overall and
    per category.
    """
    with _errors():
        import json

        from rich.console import Console

        from modelarena.judge import agreement as agree
        from modelarena.judge.judgments import read_judgments
        from modelarena.judge.votes import battle_records, human_votes

        labels = agree.judge_labels(read_judgments(judgments))
        if not labels:
            raise ValueError("the judgments hold no decided pairwise verdicts")
        if votes is None and len(labels) < 2:
            raise ValueError("give --votes, or judgments of two or more judges to compare")
        result = agree.compare(labels, human_votes(battle_records(votes)) if votes else None)
        with _sink(output) as stream:
            if format is Format.json:
                stream.write(json.dumps(result, indent=2) + "\n")
            else:
                _print_agreement(result, Console(file=stream, width=160))


def _print_agreement(result: dict[str, Any], console: Any) -> None:
    from rich.table import Table

    table = Table(
        title="Agreement (κ: Cohen's kappa; without ties: pairs where neither side said tie)",
        title_justify="left",
    )
    columns = (
        "first",
        "second",
        "category",
        "keys",
        "items",
        "agreement",
        "kappa",
        "items_without_ties",
        "agreement_without_ties",
        "kappa_without_ties",
    )
    for column in columns:
        table.add_column(
            column.replace("_", " "), justify="left" if column in columns[:3] else "right"
        )
    for row in result["comparisons"]:
        table.add_row(*(_number(row[c]) for c in columns))
    console.print(table)
    for what, count in result["unmatched"].items():
        console.print(f"{what}: {count}")


def _number(value: Any) -> str:
    if value is None:
        return "–"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


@contextmanager
def _sink(output: Path | None) -> Iterator[Any]:
    if output is None:
        yield sys.stdout
    else:
        with output.open("w", encoding="utf-8") as handle:
            yield handle


@judge.command("from-battles")
def from_battles(
    source: Annotated[
        str,
        typer.Argument(
            metavar="SOURCE",
            help="A battle file (FastChat clean_battle) or the arena database URL.",
        ),
    ],
    out: Annotated[Path, typer.Option(help="Directory for question.jsonl and model_answer/.")],
) -> None:
    """Write what voters saw as a question file and answer files.

    Then `judge run --mode pairwise-all` grades exactly those conversations and `judge
    agreement` compares the verdicts with the votes.
    """
    with _errors():
        from modelarena.judge import battles
        from modelarena.judge.votes import battle_records

        found = battles.extract(battle_records(source))
        question_file, answer_dir = battles.write(found, out)
        typer.echo(
            f"{len(found.questions)} questions -> {question_file}; answers of "
            f"{len(found.answers)} models -> {answer_dir}"
        )
        if found.without_conversation:
            warn(f"{found.without_conversation} records without conversations skipped")
        for conflict in found.conflicts:
            warn(conflict)


@judge.command("label")
def label(
    judge_model: Annotated[
        str,
        typer.Option(help="The labelling model's name at the endpoint; also the labeller's name."),
    ],
    judge_endpoint: Endpoint = None,
    api_key_env: ApiKeyEnv = None,
    db: Annotated[
        str | None,
        typer.Option(help="Arena database URL (default: the platform's configured database)."),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(min=1, help="Label at most N prompts (unparseable answers do not count)."),
    ] = None,
    concurrency: Concurrency = 8,
    retries: Retries = 5,
) -> None:
    """Tag the arena's stored prompts with categories for the leaderboard's filters.

    The seven hard-prompt criteria, math, coding, creative writing and instruction
    following; `hard_prompt` when six criteria or more hold.
    """
    with _errors():
        from modelarena.judge.database import arena_database
        from modelarena.judge.label import label_prompts

        if db is None:
            from modelarena.config import load_settings

            db = load_settings().database_url
        with arena_database(db) as database:
            database.migrate()
            result = _with_client(
                judge_endpoint,
                api_key_env,
                concurrency,
                retries,
                lambda client: label_prompts(database, client, judge_model, limit=limit),
            )
        typer.echo(f"{result.labelled} prompts labelled")
        for conversation_id, raw in result.unparseable.items():
            warn(f"unparseable labels for {conversation_id} (not stored): {raw[:200]!r}")
        if result.errors:
            first = next(iter(result.errors.values()))
            fail(f"{len(result.errors)} calls failed (first: {first})", status=1)
