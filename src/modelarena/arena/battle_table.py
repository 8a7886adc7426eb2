"""The stored blind-battle votes as one Arrow table for the live leaderboard, read
incrementally.

A vote never changes, so each is read once, as a small row (models, winner, the built-in
categories stored in the vote; never the conversation text) and kept. The first load
reads the votes and the blind battles table by table, whole and in big chunks, and joins
them here; later loads read only the votes added since, and their battles. A vote stored
before features were gets them computed from its conversation's text once, and written
back. Each load also counts the votes (one committed after a newer one was read shows up
as more votes than were read, and is fetched by id) and reads what can change after a
vote: excluding flags and prompt labels.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from modelarena.arena import battle_features
from modelarena.rating.style import METADATA_FIELDS
from modelarena.store import battles as store
from modelarena.store import exports, repo
from modelarena.store.db import Database
from modelarena.vocabulary import BUILTIN_CATEGORIES

BACKFILL = 500  # conversations read at once when computing missing features
_COMBINE_AFTER = 32  # chunks kept before they are merged into one
# The table's column of each stored category bit (store.CATEGORIES, in order).
_CATEGORY_COLUMNS = dict(zip(store.CATEGORIES, BUILTIN_CATEGORIES, strict=True))


class BattleTable:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._table: pa.Table | None = None  # every blind battle read, in vote order
        self._read_votes: list[np.ndarray] = []  # the id of every vote read, of any mode
        self._votes = 0
        self._last_vote = 0

    def load(self) -> pa.Table:
        """Every voted blind battle without an excluding flag, in vote order: its
        `question_id`, `model_a`, `model_b`, `winner`, the built-in categories and the
        prompt labels (null where a battle has none) as boolean columns."""
        counted = store.vote_count(self.db)  # first: a vote stored after it is read below
        self._add(store.votes(self.db, after=self._last_vote), whole=self._last_vote == 0)
        if counted > self._votes:
            # Ids are handed out before commit (PostgreSQL), so a vote may commit after a
            # newer one was read: fetch whichever are not read yet.
            read = np.concatenate(self._read_votes) if self._read_votes else np.empty(0)
            stored = np.array(store.vote_ids(self.db), dtype=np.int64)
            missing = stored[~np.isin(stored, read)].tolist()
            self._add(store.votes(self.db, ids=missing), whole=False)
        if self._table is None:
            return pa.table({})
        table = self._table
        excluded = store.excluded_conversations(self.db)
        if excluded:
            keep = pc.invert(pc.is_in(table["question_id"], pa.array(excluded, pa.string())))
            table = table.filter(keep)
        return _with_labels(table.drop_columns(["vote"]), repo.prompt_labels(self.db))

    def _add(self, votes: store.Columns, whole: bool) -> None:
        """Join new votes (in vote order) with their blind battles (read whole when
        `whole`, else those of these votes) and keep them."""
        ids = np.array(votes["vote"], dtype=np.int64)
        if ids.size == 0:
            return
        self._read_votes.append(ids)
        if len(self._read_votes) > _COMBINE_AFTER:
            self._read_votes = [np.concatenate(self._read_votes)]
        self._votes += ids.size
        self._last_vote = max(self._last_vote, int(ids.max()))
        found = store.battles(self.db, None if whole else votes["conversation"])
        text = pa.string()
        conversations = pa.array(votes["conversation"], text)
        battle = pc.index_in(conversations, value_set=pa.array(found["conversation"], text))
        part = pa.table(
            {
                "vote": ids,
                "question_id": conversations,
                "winner": pa.array(votes["winner"], text),
                "model_a": pa.array(found["model_a"], text).take(battle),
                "model_b": pa.array(found["model_b"], text).take(battle),
                "categories": pa.array(votes["categories"], pa.int64()),
                **{name: pa.array(votes[name], pa.int64()) for name in store.STYLE_COUNTS},
            }
        ).filter(pc.is_valid(battle))  # votes of other modes have no blind battle
        if part.num_rows:
            self._append(_category_columns(self._fill_missing(part)))

    def _fill_missing(self, part: pa.Table) -> pa.Table:
        """Compute, store and fill in the features of votes stored without them."""
        missing = part.filter(pc.is_null(part["categories"]))
        if missing.num_rows == 0:
            return part
        conversations = missing["question_id"].to_pylist()
        vote_of = dict(zip(conversations, missing["vote"].to_pylist(), strict=True))
        computed: dict[int, store.Features] = {}
        for start in range(0, len(conversations), BACKFILL):
            stored = exports.voted(self.db, ("battle",), conversations[start : start + BACKFILL])
            found = battle_features.features([_turns(c) for c in stored])
            described = {vote_of[c.id]: f for c, f in zip(stored, found, strict=True)}
            store.save_features(self.db, described)
            computed.update(described)
        position = pc.index_in(part["vote"], value_set=pa.array(list(computed), pa.int64()))
        values = {
            "categories": [f.categories for f in computed.values()],
            **{name: [getattr(f, name) for f in computed.values()] for name in store.STYLE_COUNTS},
        }
        for name, column in values.items():
            filled = pa.array(column, pa.int64()).take(position)
            index = part.schema.get_field_index(name)
            part = part.set_column(index, name, pc.coalesce(part[name], filled))
        return part

    def _append(self, part: pa.Table) -> None:
        if self._table is None:
            self._table = part
            return
        table = pa.concat_tables([self._table, part])
        if table["vote"].num_chunks > _COMBINE_AFTER:
            table = table.combine_chunks()
        if pc.min(part["vote"]).as_py() < pc.max(self._table["vote"]).as_py():
            table = table.sort_by("vote")  # a vote committed late: keep vote order
        self._table = table


def _category_columns(part: pa.Table) -> pa.Table:
    """The stored category mask as one boolean column per built-in category (a battle
    whose categories could not be computed is in none), models and winner dictionary-
    encoded."""
    mask = pc.fill_null(part["categories"], 0).to_numpy()
    columns = {
        "vote": part["vote"],
        "question_id": part["question_id"],
        **{name: pc.dictionary_encode(part[name]) for name in ("model_a", "model_b", "winner")},
    }
    for bit, name in enumerate(store.CATEGORIES):
        columns[_CATEGORY_COLUMNS[name]] = pa.array((mask >> bit) & 1 == 1)
    # The style counts as the rating engine reads them (store.STYLE_COUNTS follows the
    # order of METADATA_FIELDS); a missing count reads as 0.
    counts = [
        pc.fill_null(part[name], 0).cast(pa.int32()).combine_chunks() for name in store.STYLE_COUNTS
    ]
    columns["conv_metadata"] = pa.StructArray.from_arrays(counts, list(METADATA_FIELDS))
    return pa.table(columns)


def _turns(conversation: exports.StoredConversation) -> list[battle_features.Turn]:
    return [(t.prompt, t.sides["a"].answer, t.sides["b"].answer) for t in conversation.turns]


def _with_labels(table: pa.Table, labels: dict[str, dict[str, bool]]) -> pa.Table:
    """The prompt labels as boolean columns (null where a battle has no label); a label
    named like a column already there (the built-in `math`) leaves that column alone."""
    if not labels or table.num_rows == 0:
        return table
    ids = list(labels)
    position = pc.index_in(table["question_id"], value_set=pa.array(ids, pa.string()))
    names = dict.fromkeys(name for categories in labels.values() for name in categories)
    for name in names:
        if name in table.column_names:
            continue
        values = [labels[c].get(name) for c in ids]
        column = pa.array([None if v is None else bool(v) for v in values], pa.bool_())
        table = table.append_column(name, column.take(position))
    return table
