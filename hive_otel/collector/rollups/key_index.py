"""Which usage candidates of a batch are new, already stored, or changed: the key index.

Finding the stored row of each key must not cost a scan of ``usage_facts``: call keys are hashes, so
one batch's keys fall in every granule of the table, and a lookup would read it whole per batch.
``usage_key_index`` (a ClickHouse ``Join`` table in memory, migration ``create_usage_key_index``,
kept by a view on ``usage_facts`` and rebuilt from ``usage_facts FINAL`` whenever it is empty, e.g.
after a restart) maps the hash of (tenant, call_key) to a fingerprint of the stored row's candidate
fields. So each candidate is:

* the same as stored: its fingerprint equals the stored one (a replay or a retry). Skipped, since
  merging a version into a row it already equals changes nothing;
* fresh: its key is not in the index and no other pending candidate has it (the common case). Its
  fact is the candidate itself: no aggregation, no read of ``usage_facts``;
* to merge: the others (a changed call, or one key twice in the batch). Only these are aggregated
  in ClickHouse, next to their stored rows read by key from ``usage_facts FINAL``.

A hash collision between two keys only sends a candidate to the merge, where the read by key finds
no row and the call is merged as new; a false "same" would need a 64-bit collision of two
fingerprints of the same key.

The statements are in ``sql/key_index_*.sql`` beside this module. The expressions below stay here: the
migration ``create_usage_key_index`` repeats them word for word (a test checks it) and the merge that
:mod:`~hive_otel.collector.rollups.usage_merge` renders from the call-merge rules uses them too.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from hive_otel.collector.sql_files import template

KEY_HASH_SQL = "sipHash64(tenant, call_key)"
# The candidate fields of a row, in the form a fact stores them (cost_source: only "priced by the
# runtime" is a candidate field; estimates are derived). A one-version fact fingerprints like the
# candidate it came from, so a replayed candidate matches its fact.
FINGERPRINT_SQL = (
    "sipHash64(tenant, call_key, kind, user, session, root_session, parent_session, colony, queen, worker, "
    "agent_role, model, provider, input_tokens, output_tokens, cached_tokens, cache_creation_tokens, cost_usd, "
    "cost_source = 'runtime', latency_ms, tool_name, is_error, error_type, occurred_at, time_rank, trace_id, "
    "span_id, execution_id, node_id, call_source, schema_version)"
)
STORED_SQL = f"joinGetOrNull('usage_key_index', 'fingerprint', {KEY_HASH_SQL})"
# The index holds this row once it was built from usage_facts; without it, it is not to be trusted.
INDEX_READY_SQL = "ifNull(joinGetOrNull('usage_key_index', 'fingerprint', toUInt64(0)) = 1, 0)"
# How a fact stores the channels a call was seen on (the merge of 'event' and 'log' versions).
CALL_SOURCE_SQL = (
    "multiIf(position({c}, 'event') > 0 AND position({c}, 'log') > 0, 'event+log', position({c}, 'event') > 0, "
    "'event', position({c}, 'log') > 0, 'log', '')"
)


def rebuild_index_sql() -> list[str]:
    """Statements that refill usage_key_index from the current facts, sentinel last."""
    statements = template(__package__, "key_index_rebuild").format(key_hash=KEY_HASH_SQL, fingerprint=FINGERPRINT_SQL)
    return [statement.strip() for statement in statements.split(";") if statement.strip()]


def batches_sql(batches: list[int]) -> str:
    return ", ".join(str(int(b)) for b in batches)


def candidates_sql(batches: list[int], columns: list[str]) -> str:
    """Every staged row of ``batches``: its candidate ``columns`` (a fact's, call_source as a fact
    stores it, ``runtime_priced``), whether it equals its stored fact, and whether a fact is stored."""
    fields = ", ".join(c if c != "call_source" else f"{CALL_SOURCE_SQL.format(c='call_source')} AS fact_call_source"
                       for c in columns)  # fmt: skip
    return template(__package__, "key_index_candidates").format(
        fields=fields, fingerprint=FINGERPRINT_SQL, stored=STORED_SQL, index_ready=INDEX_READY_SQL,
        batches=batches_sql(batches),
    )  # fmt: skip


@dataclass
class Split:
    """A batch's candidates sorted out (see the module docstring)."""

    fresh: pa.Table  # one row per new call: the candidate is the fact
    to_merge: int  # candidates the merge query must aggregate
    unkeyed: dict[int, int]  # batch -> staged spans without a key
    refused: dict[int, int]  # batch -> staged spans whose tokens, cost or time are out of bounds (never merged)
    same: dict[int, int]  # batch -> keys all of whose candidates in that batch equal the stored fact


def split(candidates: pa.Table) -> Split:
    """Sort the output of :func:`candidates_sql` (its ``merge_sql`` counterpart selects the rest).

    The masks are worked out on the few columns they need and the wide table is filtered once, at
    the end (filtering it copies every one of its ~35 columns)."""
    batch = candidates["batch"]
    bounded = pc.equal(candidates["refused"], "")
    keyed = pc.and_(bounded, pc.not_equal(candidates["call_key"], ""))
    refused = _per_batch(batch.filter(pc.invert(bounded)))
    unkeyed = _per_batch(batch.filter(pc.and_(bounded, pc.invert(keyed))))
    same_row = pc.equal(candidates["same"], 1)
    same: dict[int, int] = {}
    if pc.any(pc.and_(keyed, same_row)).as_py():  # a replay or a retry: keys all of whose candidates equal the stored fact
        keys = pa.table({c: candidates[c] for c in ("batch", "tenant", "call_key", "same")}).filter(keyed)
        per_key = keys.group_by(["batch", "tenant", "call_key"]).aggregate([("same", "min")])
        same = _per_batch(per_key["batch"].filter(pc.equal(per_key["same_min"], 1)))
    pending = pc.and_(keyed, pc.invert(same_row))
    key = pc.binary_join_element_wise(candidates["tenant"], candidates["call_key"], "\x1f")
    pending_keys = key.filter(pending)
    counts = pc.value_counts(pending_keys)
    repeated = counts.field("values").filter(pc.greater(counts.field("counts"), 1))
    fresh_mask = pc.and_(pending, pc.equal(candidates["stored"], 0))
    if len(repeated):
        fresh_mask = pc.and_(fresh_mask, pc.invert(pc.is_in(key, repeated)))
    fresh = candidates if pc.all(fresh_mask).as_py() else candidates.filter(fresh_mask)
    fresh = fresh.rename_columns([c if c != "fact_call_source" else "call_source" for c in fresh.column_names])
    return Split(fresh.drop_columns(["refused"]), len(pending_keys) - fresh.num_rows, unkeyed, refused, same)


def _per_batch(batches: pa.ChunkedArray | pa.Array) -> dict[int, int]:
    """How many of ``batches`` (one per row) each batch has."""
    if not len(batches):
        return {}
    counts = pc.value_counts(batches)
    return dict(zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True))
