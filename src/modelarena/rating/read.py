"""Read battle tables and model metadata from FastChat JSON, JSONL, CSV and Parquet files.

Only the requested columns are read where the format allows it; the result is a pyarrow Table.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa

from modelarena.rating.errors import BattleDataError

FORMATS = {
    ".json": "json",
    ".jsonl": "json",
    ".ndjson": "json",
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
# Text columns that are worth dictionary-encoding when read from Parquet.
_CATEGORICAL = ("model_a", "model_b", "winner", "judge", "language")


def file_format(path: str | Path) -> str:
    """Return 'json', 'csv' or 'parquet' from the file extension, or raise an actionable error."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise BattleDataError(
            f"cannot tell the format of {path} from its extension; "
            "use .json (FastChat list or JSON lines), .jsonl, .csv or .parquet"
        )
    return FORMATS[suffix]


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of the file's bytes, recorded in the manifest."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_battles(path: str | Path, columns: Iterable[str] | None = None) -> pa.Table:
    """Read a battle table; with `columns`, read only those of them that the file has.

    JSON files may hold one list of records (FastChat `clean_battle_*.json`) or one record
    per line. Missing files, unknown extensions, unreadable or empty files raise
    BattleDataError.
    """
    path = Path(path)
    fmt = file_format(path)
    if not path.is_file():
        raise BattleDataError(f"no such file: {path}")
    wanted = None if columns is None else list(dict.fromkeys(columns))
    try:
        if fmt == "parquet":
            table = _read_parquet(path, wanted)
        elif fmt == "csv":
            table = _read_csv(path, wanted)
        else:
            table = _read_json(path, wanted)
    except (pa.ArrowException, OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BattleDataError(f"cannot read {path} as {fmt}: {_first_line(exc)}") from exc
    if table.num_rows == 0:
        raise BattleDataError(f"{path} holds no battles")
    return table


def read_models_meta(path: str | Path) -> dict[str, dict[str, str]]:
    """Read per-model metadata (columns `model`, `organization`, `license`) from any format."""
    table = read_battles(path)
    if "model" not in table.column_names:
        raise BattleDataError(
            f"{path} needs a 'model' column (and any of 'organization', 'license'); "
            f"found: {', '.join(table.column_names)}"
        )
    fields = [name for name in ("organization", "license") if name in table.column_names]
    records = table.select(["model", *fields]).to_pylist()
    return {
        str(row["model"]): {name: "" if row[name] is None else str(row[name]) for name in fields}
        for row in records
        if row["model"] is not None
    }


def _read_parquet(path: Path, wanted: list[str] | None) -> pa.Table:
    """Read the wanted columns; `parent.child` reads one field of a struct column.

    Reading a few fields of a nested struct is much faster than reading all of it; the
    fields come back as a struct column named `parent` holding just those fields.
    """
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)
    if wanted is None:
        wanted = schema.names
    plain = [name for name in _parents(wanted) if name in schema.names]
    fields: dict[str, list[str]] = {}
    for name in wanted:
        parent, dot, child = name.partition(".")
        if not dot or parent not in schema.names:
            continue
        kind = schema.field(parent).type
        if pa.types.is_struct(kind) and kind.get_field_index(child) >= 0 and "." not in child:
            fields.setdefault(parent, []).append(child)
            continue
    plain = [name for name in plain if name not in fields]
    paths = plain + [
        f"{parent}.{child}" for parent, children in fields.items() for child in children
    ]
    categorical = [name for name in _CATEGORICAL if name in plain]
    table = pq.read_table(path, columns=paths, read_dictionary=categorical)
    for parent, children in fields.items():
        parts = [table.column(child) for child in children]
        if len({tuple(len(chunk) for chunk in part.chunks) for part in parts}) > 1:
            parts = [pa.chunked_array([part.combine_chunks()]) for part in parts]
        chunks = [
            pa.StructArray.from_arrays([part.chunk(k) for part in parts], children)
            for k in range(parts[0].num_chunks)
        ]
        column = pa.chunked_array(
            chunks, type=pa.struct([(c, p.type) for c, p in zip(children, parts, strict=True)])
        )
        table = table.drop_columns(children).append_column(parent, column)
    return table


def _parents(names: list[str]) -> list[str]:
    """Column names with `parent.child` entries replaced by their parent, in order."""
    return list(dict.fromkeys(name.partition(".")[0] for name in names))


def _read_csv(path: Path, wanted: list[str] | None) -> pa.Table:
    from pyarrow import csv as pacsv

    header = _csv_header(path)
    if not header:
        raise BattleDataError(f"{path} holds no battles")
    selected = header if wanted is None else [name for name in _parents(wanted) if name in header]
    text = {name: pa.string() for name in (*_CATEGORICAL, "model") if name in selected}
    options = pacsv.ConvertOptions(include_columns=selected, column_types=text)
    return pacsv.read_csv(path, convert_options=options)


def _read_json(path: Path, wanted: list[str] | None) -> pa.Table:
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    start = text.lstrip()[:1]
    if start == "[":
        records = json.loads(text)
    elif start == "{":
        records = _json_lines(path, text)
    else:
        raise BattleDataError(f"{path} is neither a JSON list of battles nor JSON lines")
    del text
    for number, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            raise BattleDataError(f"{path}: record {number} is not a JSON object")
    return records_to_table(records, None if wanted is None else _parents(wanted), str(path))


def _json_lines(path: Path, text: str) -> list:
    """One JSON value per non-blank line; a bad line is an error naming its line number."""
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise BattleDataError(
                f"{path}: line {number} is not valid JSON ({exc.msg} at column {exc.colno}); "
                "JSON lines hold one battle object per line"
            ) from None
    return records


def records_to_table(records: list[dict], columns: list[str] | None, source: str) -> pa.Table:
    """Columns of a list of FastChat-style records; absent keys read as null."""
    names = columns if columns is not None else list(dict.fromkeys(k for r in records for k in r))
    table = {}
    for name in names:
        values = [record.get(name) for record in records]
        if all(value is None for value in values):
            continue
        try:
            table[name] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise BattleDataError(
                f"{source}: column '{name}' mixes incompatible value types ({_first_line(exc)})"
            ) from exc
    if records and not table:
        keys = sorted({key for record in records[:100] for key in record})
        raise BattleDataError(
            f"{source}: the records have none of the columns {', '.join(names)} "
            f"(their keys: {', '.join(keys) or 'none'})"
        )
    return pa.table(table)


def available_columns(path: str | Path) -> list[str] | None:
    """Column names of a Parquet or CSV file without reading its rows; None for JSON."""
    fmt = file_format(path)
    if not Path(path).is_file():
        raise BattleDataError(f"no such file: {path}")
    if fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            return pq.read_schema(path).names
        except (pa.ArrowInvalid, OSError) as exc:
            raise BattleDataError(f"cannot read {path} as parquet: {_first_line(exc)}") from exc
    if fmt == "csv":
        return _csv_header(Path(path)) or []
    return None


def _csv_header(path: Path) -> list[str] | None:
    """The first row of a CSV file (None when empty); it must be UTF-8 text."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            return next(csv.reader(handle), None)
    except UnicodeDecodeError as exc:
        raise BattleDataError(
            f"cannot read {path} as csv: it is not UTF-8 text (byte {exc.start}); save it as UTF-8"
        ) from None
    except csv.Error as exc:
        raise BattleDataError(f"cannot read {path} as csv: {exc}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
