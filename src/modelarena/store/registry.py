"""The model registry in the database: every model's definition, source and lifecycle, the
admin's arena overrides, and the audit trail of changes.

Each change is written together with its audit entry in one transaction, and the newest
entry's id is the registry's `revision`: a server that sees it grow reloads the models.
Definitions are stored as given (dicts checked by the caller); a secret only as the
caller encrypted it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from modelarena.store.db import Database
from modelarena.store.models import ModelChangeRecord, ModelRecord, utcnow

STATES = ("active", "paused", "retired")
# The audit trail's name for the change into each state.
STATE_ACTIONS = {"active": "resume", "paused": "pause", "retired": "retire"}
SOURCES = ("config", "runtime")
METADATA_COLUMNS = ("display_name", "organization", "license", "context_length")


class RegistryConflict(ValueError):
    """The change contradicts the registry (a name taken, an unknown model, a config
    model's definition); the message says which."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class RegisteredModel:
    name: str
    source: str
    state: str
    revision: int
    definition: Mapping[str, Any]
    secret: str | None
    added_at: datetime
    paused_at: datetime | None
    retired_at: datetime | None
    updated_at: datetime
    enabled: bool | None
    weight: float | None


@dataclass(frozen=True)
class ModelChange:
    id: int
    model: str
    actor: str
    action: str
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None
    created_at: datetime


def _view(row: ModelRecord) -> RegisteredModel:
    return RegisteredModel(
        name=row.name,
        source=row.source,
        state=row.state,
        revision=row.revision,
        definition=dict(row.definition or {"name": row.name}),
        secret=row.secret,
        added_at=row.added_at,
        paused_at=row.paused_at,
        retired_at=row.retired_at,
        updated_at=row.updated_at,
        enabled=row.enabled,
        weight=row.weight,
    )


def _audited(row: ModelRecord) -> dict[str, Any]:
    """What the audit trail keeps of a model: never its secret, only whether it has one."""
    return {
        "state": row.state,
        "definition": dict(row.definition or {}),
        "secret": row.secret is not None,
        "enabled": row.enabled,
        "weight": row.weight,
    }


def _record(
    session: Session,
    row: ModelRecord,
    actor: str,
    action: str,
    before: dict[str, Any] | None,
) -> None:
    row.updated_at = utcnow()
    session.add(
        ModelChangeRecord(
            model=row.name, actor=actor, action=action, before=before, after=_audited(row)
        )
    )


def _set_definition(row: ModelRecord, definition: Mapping[str, Any]) -> None:
    row.definition = dict(definition)
    for column in METADATA_COLUMNS:
        setattr(row, column, definition.get(column))
    parameters = definition.get("parameters")
    row.parameters = None if parameters is None else str(parameters)
    row.vision = bool(definition.get("vision"))


def revision(db: Database) -> int:
    """The id of the newest change (0: none yet)."""
    with db.session() as session:
        return session.scalar(select(func.max(ModelChangeRecord.id))) or 0


def registered(db: Database) -> list[RegisteredModel]:
    with db.session() as session:
        return [_view(r) for r in session.scalars(select(ModelRecord).order_by(ModelRecord.name))]


def registered_model(db: Database, name: str) -> RegisteredModel | None:
    with db.session() as session:
        row = session.get(ModelRecord, name)
        return _view(row) if row else None


def changes(db: Database, name: str | None = None, limit: int = 100) -> list[ModelChange]:
    """The newest changes first, of one model or all."""
    query = select(ModelChangeRecord).order_by(ModelChangeRecord.id.desc()).limit(limit)
    if name is not None:
        query = query.where(ModelChangeRecord.model == name)
    with db.session() as session:
        return [
            ModelChange(r.id, r.model, r.actor, r.action, r.before, r.after, r.created_at)
            for r in session.scalars(query)
        ]


def seed_config(db: Database, definitions: Iterable[Mapping[str, Any]]) -> None:
    """Enter the configuration file's models (or their changed definitions), keeping each
    one's lifecycle state and overrides. A name already added at runtime is a conflict."""
    with db.session() as session:
        for definition in definitions:
            name = definition["name"]
            row = session.get(ModelRecord, name)
            if row is not None and row.source == "runtime":
                raise RegistryConflict(
                    f"model {name!r} is in the configuration file and was also added at "
                    "runtime (`modelarena models add`); rename one of them",
                    "model_exists",
                )
            if row is None:
                row = ModelRecord(name=name, source="config", state="active", revision=1)
                session.add(row)
                before = None
            elif row.definition == dict(definition):
                continue
            else:
                before = _audited(row)
                row.revision += 1
            _set_definition(row, definition)
            _record(session, row, "config", "seed" if before is None else "config", before)


def add_model(
    db: Database, definition: Mapping[str, Any], secret: str | None, actor: str
) -> RegisteredModel:
    """A new runtime model, active at once."""
    name = definition["name"]
    try:
        with db.session() as session:
            if session.get(ModelRecord, name) is not None:
                raise name_taken(name)
            row = ModelRecord(
                name=name, source="runtime", state="active", revision=1, secret=secret
            )
            _set_definition(row, definition)
            session.add(row)
            session.flush()
            _record(session, row, actor, "add", None)
            return _view(row)
    except IntegrityError:  # added by someone else between the check and the insert
        raise name_taken(name) from None


def name_taken(name: str) -> RegistryConflict:
    return RegistryConflict(
        f"a model named {name!r} exists already; choose another name, or change it with "
        "`modelarena models update`",
        "model_exists",
    )


def update_model(
    db: Database,
    name: str,
    definition: Mapping[str, Any],
    actor: str,
    *,
    secret: str | None = None,
    drop_secret: bool = False,
) -> RegisteredModel:
    """Replace a runtime model's definition (and its secret, when a new one is given)."""
    with db.session() as session:
        row = _runtime_row(session, name)
        before = _audited(row)
        _set_definition(row, definition)
        if secret is not None or drop_secret:
            row.secret = secret
        if _audited(row) == before and secret is None:
            return _view(row)
        row.revision += 1
        _record(session, row, actor, "update", before)
        return _view(row)


def set_state(db: Database, name: str, state: str, actor: str) -> RegisteredModel:
    """Pause, retire or reactivate a model (config models included)."""
    if state not in STATES:
        raise ValueError(f"state must be one of {', '.join(STATES)}, not {state!r}")
    with db.session() as session:
        row = _row(session, name)
        if row.state == state:
            return _view(row)
        before = _audited(row)
        row.state = state
        now = utcnow()
        if state == "paused":
            row.paused_at = now
        elif state == "retired":
            row.retired_at = now
        row.revision += 1
        _record(session, row, actor, STATE_ACTIONS[state], before)
        return _view(row)


def set_overrides(db: Database, name: str, changes: Mapping[str, Any], actor: str) -> bool:
    """Change whether a model battles (`enabled`) and its weight (`weight`); None returns a
    setting to the configuration. False for an unknown model."""
    with db.session() as session:
        row = session.get(ModelRecord, name)
        if row is None:
            return False
        before = _audited(row)
        for key in ("enabled", "weight"):
            if key in changes:
                setattr(row, key, changes[key])
        if _audited(row) != before:
            _record(session, row, actor, "arena", before)
        return True


def _row(session: Session, name: str) -> ModelRecord:
    row = session.get(ModelRecord, name)
    if row is None:
        raise RegistryConflict(f"no model named {name!r} in the registry", "model_not_found")
    return row


def _runtime_row(session: Session, name: str) -> ModelRecord:
    row = _row(session, name)
    if row.source != "runtime":
        raise config_owned(name)
    return row


def config_owned(name: str) -> RegistryConflict:
    return RegistryConflict(
        f"model {name!r} comes from the configuration file, which owns its definition: "
        "change it there (its state can still be paused, retired or resumed here)",
        "config_model",
    )
