"""Merge one batch of usage candidates into usage_facts and the signed usage_ledger.

Field-wise merge, order-independent (every rule is a max over the versions seen, so L3-then-event
and event-then-L3 end in the same row, and a replay of anything already merged changes nothing):

* strings: non-empty wins (max; '' sorts first); tokens, cost, latency, is_error: max;
* occurred_at: the (time_rank, occurred_at) maximum, i.e. a bus event's time beats a log line's;
* trace_id/span_id: the lexicographically largest pair, so the choice is stable;
* cost_source: runtime if any version was priced by the runtime, else an estimate from
  genai-prices (kept as is while its inputs do not change), else unpriced; tools have none.

Only keys whose merged row differs from the stored one are written: a new fact version, plus a -1
ledger row for the old version and a +1 row for the new one. The rollup views sum the ledger.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from hive_otel.collector.pricing import CostEstimator

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
# Columns the candidates carry (usage_staging); facts add cost_estimated_usd and status.
_CANDIDATE_COLUMNS = [c for c in FACT_COLUMNS if c not in ("cost_estimated_usd", "status", "tenant", "call_key")]
_MAX_COLUMNS = [c for c in _CANDIDATE_COLUMNS if c not in (
    "cost_source", "occurred_at", "time_rank", "trace_id", "span_id", "call_source")]  # fmt: skip
_OLD_COLUMNS = [c for c in FACT_COLUMNS if c not in ("tenant", "call_key")]


def merge_sql(batch: int) -> str:
    """Merged candidates of one batch next to the stored version of the same keys (old_*)."""
    candidate_cols = ", ".join(_CANDIDATE_COLUMNS)
    fact_cols = ", ".join(_CANDIDATE_COLUMNS)
    merged = ",\n    ".join(f"max({c}) AS {c}" for c in _MAX_COLUMNS)
    old = ",\n    ".join(f"anyIf({c}, is_old = 1) AS old_{c}" for c in _OLD_COLUMNS)
    return f"""
SELECT
    tenant, call_key,
    {merged},
    max(cost_source = 'runtime') AS runtime_priced,
    max((time_rank, occurred_at)) AS _t, _t.1 AS time_rank, _t.2 AS occurred_at,
    max((trace_id, span_id)) AS _ids, _ids.1 AS trace_id, _ids.2 AS span_id,
    multiIf(max(position(call_source, 'event') > 0) AND max(position(call_source, 'log') > 0), 'event+log',
            max(position(call_source, 'event') > 0), 'event',
            max(position(call_source, 'log') > 0), 'log', '') AS call_source,
    max(is_old) AS has_old,
    maxIf(version, is_old = 1) AS old_version,
    {old}
FROM (
    SELECT tenant, call_key, {candidate_cols}, toDecimal64(0, 10) AS cost_estimated_usd, '' AS status,
           toUInt64(0) AS version, toUInt8(0) AS is_old
    FROM usage_staging
    WHERE batch = {int(batch)} AND call_key != ''
    UNION ALL
    SELECT tenant, call_key, {fact_cols}, cost_estimated_usd, status, version, toUInt8(1) AS is_old
    FROM usage_facts FINAL
    WHERE (tenant, call_key) IN (SELECT tenant, call_key FROM usage_staging WHERE batch = {int(batch)})
)
GROUP BY tenant, call_key
SETTINGS prefer_column_name_to_alias = 1
"""


@dataclass
class MergeOutcome:
    facts: pa.Table | None  # new fact versions to insert
    ledger: pa.Table | None  # signed ledger rows to insert
    new_calls: int = 0
    updated_calls: int = 0
    unchanged_calls: int = 0


def _fill(values: pa.Array, mask: pa.Array, replacements: list) -> pa.Array:
    if not replacements:
        return values
    return pc.replace_with_mask(values, mask, pa.array(replacements, type=values.type))


def _price(merged: pa.Table, estimator: CostEstimator) -> tuple[pa.Array, pa.Array]:
    """cost_source and cost_estimated_usd for every merged row."""
    is_llm = pc.equal(merged["kind"], "llm")
    runtime = pc.equal(merged["runtime_priced"], 1)
    source = pc.if_else(is_llm, pc.if_else(runtime, "runtime", "unpriced"), "")
    estimate = merged["old_cost_estimated_usd"].combine_chunks()
    estimate = pc.if_else(pc.and_(is_llm, pc.invert(runtime)), estimate, pa.scalar(0, estimate.type))
    wants_estimate = pc.and_(pc.and_(is_llm, pc.invert(runtime)), pc.not_equal(merged["model"], ""))

    # An estimate already stored for the same inputs is kept, so a replay never re-prices a call.
    reusable = pc.and_(wants_estimate, pc.starts_with(merged["old_cost_source"], "estimated:"))
    for column in _PRICING_INPUTS:
        reusable = pc.and_(reusable, pc.equal(merged[column], merged[f"old_{column}"]))
    source = pc.if_else(reusable, merged["old_cost_source"], source)

    todo = pc.and_(wants_estimate, pc.invert(reusable)).combine_chunks()
    index = pc.indices_nonzero(todo)
    if len(index):
        rows = merged.select(_PRICING_INPUTS).take(index).to_pylist()
        costs = [
            estimator.estimate(
                model=r["model"], provider=r["provider"], input_tokens=r["input_tokens"],
                output_tokens=r["output_tokens"], cached_tokens=r["cached_tokens"],
                cache_creation_tokens=r["cache_creation_tokens"], at=r["occurred_at"],
            )
            for r in rows
        ]  # fmt: skip
        priced = [c is not None for c in costs]
        estimate = _fill(estimate, todo, [c if c is not None else 0 for c in costs])
        source = _fill(source.combine_chunks(), todo, [estimator.source if p else "unpriced" for p in priced])
    return source, estimate


def merge_batch(merged: pa.Table, estimator: CostEstimator) -> MergeOutcome:
    """Decide, from the output of :func:`merge_sql`, which fact versions and ledger rows to write."""
    if merged.num_rows == 0:
        return MergeOutcome(None, None)
    source, estimate = _price(merged, estimator)
    merged = merged.append_column("cost_source", source)
    merged = merged.append_column("cost_estimated_usd", estimate)
    merged = merged.append_column("status", pc.if_else(pc.equal(merged["is_error"], 1), "error", "ok"))

    has_old = pc.equal(merged["has_old"], 1)
    changed = pc.invert(has_old)
    for column in _OLD_COLUMNS:
        changed = pc.or_(changed, pc.not_equal(merged[column], merged[f"old_{column}"]))
    changed = changed.combine_chunks()
    n_changed = pc.sum(changed).as_py() or 0
    n_new = pc.sum(pc.and_(changed, pc.invert(has_old))).as_py() or 0
    outcome = MergeOutcome(None, None, n_new, n_changed - n_new, merged.num_rows - n_changed)
    if not n_changed:
        return outcome

    rows = merged.filter(changed)
    now = time.time_ns()
    version = pc.max_element_wise(pc.add(rows["old_version"], 1), pa.scalar(now, pa.uint64()))
    outcome.facts = rows.select(FACT_COLUMNS).append_column("version", version.cast(pa.uint64()))

    def ledger_part(table: pa.Table, prefix: str, sign: int, versions: pa.Array) -> pa.Table:
        cols = {c: table[c if not prefix or c in ("tenant", "call_key") else prefix + c] for c in LEDGER_COLUMNS}
        kind, cost_source = cols["kind"], table[prefix + "cost_source"]
        unpriced = pc.and_(pc.equal(kind, "llm"), pc.equal(cost_source, "unpriced"))
        cols["unpriced"] = pc.cast(unpriced, pa.uint8())
        cols["sign"] = pa.array([sign] * table.num_rows, pa.int8())
        cols["version"] = versions
        return pa.table(cols)

    plus = ledger_part(rows, "", 1, outcome.facts["version"])
    old_rows = rows.filter(pc.equal(rows["has_old"], 1))
    parts = [plus]
    if old_rows.num_rows:
        parts.insert(0, ledger_part(old_rows, "old_", -1, old_rows["old_version"]))
    outcome.ledger = pa.concat_tables(parts, promote_options="permissive")
    return outcome
