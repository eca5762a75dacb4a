"""Merge a batch's usage candidates into usage_facts and the signed usage_ledger.

Field-wise merge by :mod:`hive_otel.call_merge`'s rules, the client's (rendered into :func:`merge_sql`):
every rule is a max over the versions seen, some ranked by the half a value came from, so L3-then-event
and event-then-L3 end in the same row, the row the client makes when it joins the two itself, and a
replay of anything already merged changes nothing. In short: Hive's L3 trace/span ids win, a bus
event's time wins, the rest take the larger (for strings the non-empty) value. cost_source: runtime if
any version was priced by the runtime, else an estimate from genai-prices (kept as is while its inputs
do not change), else unpriced; tools have none.

Only keys whose merged row differs from the stored one are written: a new fact version, plus a -1
ledger row for the old version and a +1 row for the new one. The rollup views sum the ledger.
Candidates that are new calls skip the merge query altogether (see :mod:`._usage_index`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from hive_otel.call_merge import merged_columns_sql
from hive_otel.collector.rollups.key_index import FINGERPRINT_SQL, STORED_SQL, batches_sql
from hive_otel.collector.rollups.pricing import CostEstimator

FACT_COLUMNS = [
    "tenant", "call_key", "kind", "user", "session", "root_session", "parent_session", "colony", "queen",
    "worker", "agent_role", "model", "provider", "input_tokens", "output_tokens", "cached_tokens",
    "cache_creation_tokens", "cost_usd", "cost_source", "cost_estimated_usd", "latency_ms", "tool_name",
    "status", "is_error", "error_type", "occurred_at", "time_rank", "trace_id", "span_id", "execution_id",
    "node_id", "call_source", "schema_version",
]  # fmt: skip
LEDGER_COLUMNS = [
    "tenant", "call_key", "kind", "user", "session", "root_session", "colony", "agent_role", "model",
    "provider", "tool_name", "occurred_at", "input_tokens", "output_tokens", "cached_tokens",
    "cache_creation_tokens", "cost_usd", "cost_estimated_usd", "is_error",
]  # fmt: skip
_PRICING_INPUTS = ["model", "provider", "input_tokens", "output_tokens", "cached_tokens",
                   "cache_creation_tokens", "occurred_at"]  # fmt: skip
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Columns the candidates carry (usage_staging); facts add cost_estimated_usd and status.
CANDIDATE_COLUMNS = [c for c in FACT_COLUMNS if c not in ("cost_estimated_usd", "status", "tenant", "call_key")]
# Merged by hive_otel.call_merge's rules; cost_source is decided after the merge, by _price.
_MERGED_COLUMNS = [c for c in CANDIDATE_COLUMNS if c != "cost_source"]
_OLD_COLUMNS = [c for c in FACT_COLUMNS if c not in ("tenant", "call_key")]


def merge_sql(batches: list[int]) -> str:
    """The candidates of ``batches`` that need a merge, aggregated per key next to the stored version
    of the same key (``old_*``); ``batches`` lists, per key, the batches whose candidates went in.

    "Need a merge" is :func:`._usage_index.split`'s rule: not equal to the stored fact, and either a
    fact is stored for the key or the key has more than one such candidate.

    Rendered here, not kept in a .sql file like the collector's static statements: its merged columns
    are generated from :mod:`hive_otel.call_merge`'s rules and its other lists from the column lists above.
    """
    candidate_cols = ", ".join(CANDIDATE_COLUMNS)
    merged = ",\n    ".join(merged_columns_sql(_MERGED_COLUMNS))
    old = ",\n    ".join(f"anyIf({c}, is_old = 1) AS old_{c}" for c in _OLD_COLUMNS)
    pending = (
        f"batch IN ({batches_sql(batches)}) AND call_key != '' AND refused = '' "
        f"AND ifNull({FINGERPRINT_SQL} != {STORED_SQL}, 1)"
    )
    return f"""
SELECT
    tenant, call_key,
    {merged},
    max(cost_source = 'runtime') AS runtime_priced,
    max(is_old) AS has_old,
    maxIf(version, is_old = 1) AS old_version,
    groupUniqArrayIf(batch, is_old = 0) AS batches,
    {old}
FROM (
    SELECT tenant, call_key, {candidate_cols}, toDecimal64(0, 10) AS cost_estimated_usd, '' AS status,
           toUInt64(0) AS version, toUInt8(0) AS is_old, batch
    FROM usage_staging
    WHERE {pending} AND (tenant, call_key) IN (
        SELECT tenant, call_key FROM usage_staging WHERE {pending}
        GROUP BY tenant, call_key HAVING count() > 1 OR max({STORED_SQL} IS NOT NULL))
    UNION ALL
    SELECT tenant, call_key, {candidate_cols}, cost_estimated_usd, status, version, toUInt8(1) AS is_old,
           toUInt64(0) AS batch
    FROM usage_facts FINAL
    WHERE (tenant, call_key) IN (SELECT tenant, call_key FROM usage_staging WHERE {pending} AND {STORED_SQL} IS NOT NULL)
)
GROUP BY tenant, call_key
SETTINGS prefer_column_name_to_alias = 1
"""


@dataclass
class MergeOutcome:
    facts: pa.Table | None = None  # new fact versions to insert
    ledger: pa.Table | None = None  # signed ledger rows to insert
    new_calls: int = 0
    updated_calls: int = 0
    unchanged_calls: int = 0
    # batch -> {"new": n, "updated": n, "unchanged": n}: the keys each batch contributed a candidate to
    by_batch: dict[int, dict[str, int]] = field(default_factory=dict)


def _fill(values: pa.Array, mask: pa.Array, replacements: list) -> pa.Array:
    if not replacements:
        return values
    return pc.replace_with_mask(values, mask, pa.array(replacements, type=values.type))


def _price(rows: pa.Table, estimator: CostEstimator, stored: bool) -> tuple[pa.Array, pa.Array]:
    """cost_source and cost_estimated_usd for every row (``stored``: rows carry their old_* version)."""
    is_llm = pc.equal(rows["kind"], "llm")
    runtime = pc.equal(rows["runtime_priced"], 1)
    source = pc.if_else(is_llm, pc.if_else(runtime, "runtime", "unpriced"), "").combine_chunks()
    wants_estimate = pc.and_(pc.and_(is_llm, pc.invert(runtime)), pc.not_equal(rows["model"], ""))
    if stored:
        estimate = rows["old_cost_estimated_usd"].combine_chunks()
        estimate = pc.if_else(pc.and_(is_llm, pc.invert(runtime)), estimate, pa.scalar(0, estimate.type))
        # An estimate already stored for the same inputs is kept, so a replay never re-prices a call.
        reusable = pc.and_(wants_estimate, pc.starts_with(rows["old_cost_source"], "estimated:"))
        for column in _PRICING_INPUTS:
            reusable = pc.and_(reusable, pc.equal(rows[column], rows[f"old_{column}"]))
        source = pc.if_else(reusable, rows["old_cost_source"], source).combine_chunks()
        wants_estimate = pc.and_(wants_estimate, pc.invert(reusable))
    else:
        estimate = pa.nulls(rows.num_rows, pa.decimal128(18, 10)).fill_null(0)
    todo = wants_estimate.combine_chunks() if isinstance(wants_estimate, pa.ChunkedArray) else wants_estimate
    index = pc.indices_nonzero(todo)
    if len(index):
        inputs = rows.select(_PRICING_INPUTS).take(index)
        columns = inputs.drop_columns(["occurred_at"]).to_pydict()
        costs = [
            estimator.estimate(model=m, provider=p, input_tokens=i, output_tokens=o, cached_tokens=c,
                               cache_creation_tokens=w, at=at)
            for m, p, i, o, c, w, at in zip(*columns.values(), _datetimes(inputs["occurred_at"]), strict=True)
        ]  # fmt: skip
        estimate = _fill(estimate, todo, [c if c is not None else 0 for c in costs])
        source = _fill(source, todo, [estimator.source if c is not None else "unpriced" for c in costs])
    return source, estimate


def _datetimes(times: pa.Array | pa.ChunkedArray) -> list[datetime]:
    """UTC datetimes of a timestamp[ns] column, made from its integers: pyarrow's own conversion of a
    nanosecond column makes a pandas Timestamp of each (~8 µs a row, most of what pricing cost)."""
    return [_EPOCH + timedelta(microseconds=ns // 1000) for ns in times.cast(pa.int64()).to_pylist()]


def _ledger(table: pa.Table, prefix: str, sign: int, versions: pa.Array) -> pa.Table:
    """Ledger rows of ``table``'s facts (``prefix="old_"``: of the versions they replace)."""
    cols = {c: table[c if not prefix or c in ("tenant", "call_key") else prefix + c] for c in LEDGER_COLUMNS}
    unpriced = pc.and_(pc.equal(cols["kind"], "llm"), pc.equal(table[prefix + "cost_source"], "unpriced"))
    cols["unpriced"] = pc.cast(unpriced, pa.uint8())
    cols["sign"] = pa.nulls(table.num_rows, pa.int8()).fill_null(sign)
    cols["version"] = versions
    return pa.table(cols)


def _with_costs(rows: pa.Table, estimator: CostEstimator, stored: bool) -> pa.Table:
    source, estimate = _price(rows, estimator, stored)
    rows = rows.drop_columns([c for c in ("cost_source", "cost_estimated_usd", "status") if c in rows.column_names])
    rows = rows.append_column("cost_source", source).append_column("cost_estimated_usd", estimate)
    return rows.append_column("status", pc.if_else(pc.equal(rows["is_error"], 1), "error", "ok"))


_OUTCOMES = ("new", "updated", "unchanged")


def _count_by_batch(batches: pa.ChunkedArray, outcome_codes: pa.Array) -> dict[int, dict[str, int]]:
    """Per batch, how many of its keys ended new (0), updated (1) or unchanged (2)."""
    batches = batches.combine_chunks()
    codes = pc.take(outcome_codes, pc.list_parent_indices(batches))
    table = pa.table({"batch": pc.list_flatten(batches), "code": codes})
    counts: dict[int, dict[str, int]] = {}
    for row in table.group_by(["batch", "code"]).aggregate([("code", "count")]).to_pylist():
        counts.setdefault(row["batch"], dict.fromkeys(_OUTCOMES, 0))[_OUTCOMES[row["code"]]] = row["code_count"]
    return counts


def merge(fresh: pa.Table, merged: pa.Table | None, estimator: CostEstimator) -> MergeOutcome:
    """The fact versions and ledger rows to write for ``fresh`` calls (each a new call, its candidate
    its fact) and for the output of :func:`merge_sql`; and how each batch's keys came out."""
    version = pa.scalar(time.time_ns(), pa.uint64())
    facts, ledgers = [], []
    outcome = MergeOutcome(new_calls=fresh.num_rows)
    if fresh.num_rows:
        rows = _with_costs(fresh, estimator, stored=False)
        versions = pa.nulls(rows.num_rows, pa.uint64()).fill_null(version)
        facts.append(rows.select(FACT_COLUMNS).append_column("version", versions))
        ledgers.append(_ledger(rows, "", 1, versions))
        for row in fresh.group_by(["batch"]).aggregate([([], "count_all")]).to_pylist():
            outcome.by_batch[row["batch"]] = {"new": row["count_all"], "updated": 0, "unchanged": 0}
    if merged is not None and merged.num_rows:
        rows = _with_costs(merged, estimator, stored=True)
        has_old = pc.equal(rows["has_old"], 1)
        changed = pc.invert(has_old)
        for column in _OLD_COLUMNS:
            changed = pc.or_(changed, pc.not_equal(rows[column], rows[f"old_{column}"]))
        changed = changed.combine_chunks()
        n_changed = pc.sum(changed).as_py() or 0
        n_new = pc.sum(pc.and_(changed, pc.invert(has_old))).as_py() or 0
        outcome.new_calls += n_new
        outcome.updated_calls = n_changed - n_new
        outcome.unchanged_calls = rows.num_rows - n_changed
        codes = pc.if_else(changed, pc.if_else(has_old, 1, 0), 2)
        for batch, counts in _count_by_batch(rows["batches"], codes).items():
            into = outcome.by_batch.setdefault(batch, dict.fromkeys(_OUTCOMES, 0))
            for name, count in counts.items():
                into[name] += count
        rows = rows.filter(changed)
        if rows.num_rows:
            versions = pc.max_element_wise(pc.add(rows["old_version"], 1), version).cast(pa.uint64())
            facts.append(rows.select(FACT_COLUMNS).append_column("version", versions))
            replaced = rows.filter(pc.equal(rows["has_old"], 1))
            if replaced.num_rows:
                ledgers.append(_ledger(replaced, "old_", -1, replaced["old_version"]))
            ledgers.append(_ledger(rows, "", 1, versions))
    if facts:
        outcome.facts = pa.concat_tables(facts, promote_options="permissive")
        outcome.ledger = pa.concat_tables(ledgers, promote_options="permissive")
    return outcome
