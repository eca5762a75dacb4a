"""Settle: bring usage_facts and the rollups to what ClickHouse merged in usage_calls. All SQL.

A collector merges a call with its stored fact and writes the -1/+1 difference to the rollups: a
read-modify-write, exact as long as one writer handles a call at a time. Two collectors that get the
same call at the same instant (a retry after a timeout, a replay, an agent restart, or a call's bus
event and its log line routed apart) can both find it new: the rollups count it twice, and each writes
a fact with only its half, of which ``usage_facts`` (ReplacingMergeTree) keeps one.

``usage_calls`` (migration ``create_usage_calls``) receives every fact version any collector writes
and merges them field by field inside ClickHouse, order-independently and idempotently, so it holds
each call as it is once every version is in, whatever raced. Settling makes the rest agree with it:

1. facts: for every call whose merged row differs from the stored fact (by the key index's
   fingerprint), the merged row is written as a new version (its view updates the key index);
2. rollups: for each rollup table, its rows are compared with the same rollup computed from the
   merged calls, and the differences (signed sums) are inserted, so the sums become the merged ones.

Each statement reads what is stored and writes only a difference, so settling a settled store
writes nothing, and a settle interrupted between statements is completed by the next one. Run
while collectors write, a settle may read a write half done; the next settle after that write
corrects it: at any quiet point after a settle the totals are exact. Cost: one read of usage_calls
(grouped by key) per statement; the rollups are small.

The merged calls and the facts statement are in ``sql/`` beside this module; the rollup statements are
rendered by :func:`rollup_sql` from the measures and keys below.
"""

from __future__ import annotations

from hive_otel.collector.rollups.key_index import FINGERPRINT_SQL, STORED_SQL
from hive_otel.collector.sql_files import template

# One row per call: usage_calls merged, in the columns of a fact.
MERGED_SQL = template(__package__, "merged_calls")


def facts_sql() -> str:
    """Write the merged row of every call whose stored fact differs from it (a version above them all)."""
    return template(__package__, "settle_facts").format(merged=MERGED_SQL, fingerprint=FINGERPRINT_SQL, stored=STORED_SQL)


# The rollups' measures, as computed from one call.
_MEASURES = {
    "llm_calls": "toInt64(kind = 'llm')",
    "input_tokens": "toInt64(input_tokens)",
    "output_tokens": "toInt64(output_tokens)",
    "cached_tokens": "toInt64(cached_tokens)",
    "cache_creation_tokens": "toInt64(cache_creation_tokens)",
    "cost_usd": "toDecimal128(cost_usd, 10)",
    "cost_estimated_usd": "toDecimal128(cost_estimated_usd, 10)",
    "unpriced_calls": "toInt64(kind = 'llm' AND cost_source = 'unpriced')",
    "tool_calls": "toInt64(kind = 'tool')",
    "tool_errors": "toInt64(kind = 'tool' AND is_error = 1)",
}
_DIMENSIONS = "user, model, provider, colony, root_session, agent_role, kind, tool_name"
# Per rollup table: its key columns as computed from a call, and their names.
ROLLUP_KEYS = {
    "usage_hourly": (f"tenant, toStartOfHour(occurred_at) AS hour, {_DIMENSIONS}", f"tenant, hour, {_DIMENSIONS}"),
    "usage_daily": (f"tenant, toDate(occurred_at, 'UTC') AS day, {_DIMENSIONS}", f"tenant, day, {_DIMENSIONS}"),
    "usage_session_totals": ("tenant, session", "tenant, session"),
}


def rollup_sql(table: str) -> str:
    """Insert into ``table`` the signed difference between the rollup of the merged calls and its rows.
    Rendered here, not kept in a .sql file: its columns are generated from ``_MEASURES`` and ``ROLLUP_KEYS``."""
    keys, names = ROLLUP_KEYS[table]
    truth = ", ".join(f"{expr} AS {name}" for name, expr in _MEASURES.items())
    stored = ", ".join(f"-{name} AS {name}" for name in _MEASURES)
    sums = ", ".join(f"sum({name}) AS {name}" for name in _MEASURES)
    changed = " OR ".join(f"{name} != 0" for name in _MEASURES)
    last_call = ""
    if table == "usage_session_totals":  # a max, not a sum: the merged calls' latest is the value
        truth, stored, sums = (
            f"{truth}, occurred_at AS last_call_at",
            f"{stored}, toDateTime64(0, 9, 'UTC') AS last_call_at",
            f"{sums}, max(last_call_at) AS last_call_at",
        )
        last_call = ", last_call_at"
    return f"""
INSERT INTO {table} ({names}, {", ".join(_MEASURES)}{last_call})
SELECT {names}, {sums}
FROM (
    SELECT {keys}, {truth} FROM ({MERGED_SQL})
    UNION ALL
    SELECT {names}, {stored} FROM {table}
)
GROUP BY {names}
HAVING {changed}
"""


def settle_sql() -> list[str]:
    """The statements of one settle, facts first (see the module docstring)."""
    return [facts_sql(), *(rollup_sql(table) for table in ROLLUP_KEYS)]
