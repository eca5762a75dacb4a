"""Apply the numbered ClickHouse migrations in order, once each.

The authored files live in ``clickhouse/migrations/NNNN_<verb>_<object>.{up,down}.sql``. A built
wheel carries a copy in ``hive_otel/data/migrations`` (setup.py copies them at build time), so the
loader looks there first and falls back to the source tree for a checkout or an editable install.

Deployment differences are placeholders rendered from that one folder:

==================  ===========================  ==========================================
placeholder         single node (default)        cluster (``RenderOptions(cluster="c")``)
==================  ===========================  ==========================================
``{on_cluster}``    nothing                      ``ON CLUSTER 'c'``
``{engine_prefix}`` nothing (``MergeTree``)      ``Replicated`` (``ReplicatedMergeTree``)
``{traces_ttl}``    nothing, or ``TTL ...`` when ``ttl_days`` > 0 (raw otel_traces)
``{logs_ttl}``      likewise for otel_logs
``{metrics_ttl}``   likewise for otel_metrics_*
==================  ===========================  ==========================================

Replicated engines are written without arguments, so the server's ``default_replica_path`` /
``default_replica_name`` apply. Usage facts, ledger and rollups never expire: they are the bill.

History (clickhouse/migrations/README.md): the 34 migrations written before any release were folded
into one per table family. Before applying or rolling back anything, the runner checks that every
migration the store records is one of this package's (same version, name and checksum) and raises
:class:`MigrationHistoryError` otherwise, so two histories are never mixed in one store. A store that
records the complete pre-fold chain (:data:`PREFOLD_CHAIN`) has the folded schema exactly;
:func:`restamp_prefold` records it as the folded set (``hive-otel migrate --restamp-prefold``).

One process migrates a store at a time. Every collector opening a server store migrates it, so N
replicas started together (or a rolling upgrade) would otherwise run the same files at once, and a
migration that makes a table again (0021) would drop it under another's feet. Whoever has
migrations to run takes a lease in ``schema_migration_leases`` (:func:`_migration_lease`): the
oldest live lease row wins, the others wait for it to be released or to expire.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from hive_otel.collector.store.transport import StoreError

logger = logging.getLogger(__name__)

__all__ = [
    "FOLDED_LAST",
    "PREFOLD_CHAIN",
    "Migration",
    "MigrationError",
    "MigrationHistoryError",
    "RenderOptions",
    "applied_history",
    "applied_versions",
    "apply_migrations",
    "check_history",
    "load_migrations",
    "migrations_dir",
    "render",
    "restamp_prefold",
    "rollback_migrations",
    "split_statements",
]

_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.(up|down)\.sql$")
_PLACEHOLDER = re.compile(r"\{(on_cluster|engine_prefix|traces_ttl|logs_ttl|metrics_ttl)\}")

# The migrations written before the fold (never released), as a store migrated by them records
# them: version -> (name, checksum of the up file). Kept as test data in
# tests/collector/testdata/prefold_migrations, where a test applies them and checks that they end
# in the folded set's schema, table by table and column by column.
PREFOLD_CHAIN: dict[int, tuple[str, str]] = {
    1: ("create_otel_traces", "cc4e09292cbd1ac6"),
    2: ("create_otel_logs", "a1294faf67d0a84c"),
    3: ("create_otel_metrics_sum", "f169971ce20aeb7f"),
    4: ("create_otel_metrics_gauge", "31da1c59f3765335"),
    5: ("create_otel_metrics_histogram", "7713b59b60fa6e34"),
    6: ("create_usage_facts", "273d62be46866f33"),
    7: ("create_usage_ledger", "6fc9ab01f978c4a7"),
    8: ("create_usage_hourly", "4b6e6d5048b5d52a"),
    9: ("create_usage_daily", "4aa1b6f8fd417177"),
    10: ("create_usage_session_totals", "f0e3034743d126e0"),
    11: ("create_agent_sessions", "7e7a2ad0133138b5"),
    12: ("create_usage_staging", "dcb1e992a0a69c35"),
    13: ("create_otlp_traces_input", "f698a6c11ab9689e"),
    14: ("create_otlp_logs_input", "b31ee5b295f60746"),
    15: ("create_otlp_metrics_input", "4e6b609bbdb71c9b"),
    16: ("create_otlp_spans", "6c8be22b2abf0dae"),
    17: ("create_otlp_log_records", "08ca5860e6d739c5"),
    18: ("redact_otlp_metrics", "45d197e52b86d4f7"),
    19: ("create_status_events", "dbc4806644509392"),
    20: ("create_session_tasks", "5c2df1a73b7dd3d8"),
    21: ("create_session_triggers", "de21566c306c858d"),
    22: ("create_session_health", "9bb013b68bcffaa4"),
    23: ("create_quota_policies", "d4cc053e251cf6e5"),
    24: ("create_quota_crossings", "90262083ab676d69"),
    25: ("create_usage_key_index", "dd75e6a76ef07eed"),
    26: ("replace_usage_ledger", "0aa0d25abee2a93b"),
    27: ("compress_usage_facts", "53b2237dbf889b38"),
    28: ("read_genai_cache_write_tokens", "c4480a31a9b65939"),
    29: ("create_session_identity", "88d9b448af27e6f9"),
    30: ("read_more_of_hive_lifecycle", "ffad16bfe4d4ef10"),
    31: ("dedupe_raw_spans_and_logs", "4ffaad85dceec846"),
    32: ("bound_usage_candidates", "275c23fe97a65b5a"),
    33: ("read_queen_session_meta", "baeb351afbe910b1"),
    34: ("create_usage_calls", "d495525fc72cdd2a"),
}
RESTAMP_COMMAND = "hive-otel migrate --restamp-prefold"
LEASE_SECONDS = 900
"""How long a server store's migration lease holds unless released (an embedded store takes none): a
migrator that died frees the store after this. A migration that could run longer (a very large store) is
best run alone first: ``hive-otel migrate``."""
FOLDED_LAST = 20
"""The last migration of the fold: 0001-0020 are the pre-fold chain's end schema, and what comes after
is fix-forward, applied to a restamped store like to any other."""


class MigrationError(StoreError):
    """The migration files are inconsistent, or one failed to apply (the message names it)."""


class MigrationHistoryError(MigrationError):
    """The store records migrations that are not this package's: the message says what and what to do."""


class _Executor(Protocol):
    def execute(self, sql: str) -> None: ...

    def query(self, sql: str) -> tuple[list[str], list[list[object]]]: ...


@dataclass(frozen=True)
class RenderOptions:
    """How to render the authored migrations for one deployment."""

    cluster: str | None = None
    ttl_days: int = 0  # raw otel_* tables only; 0 keeps them forever

    def __post_init__(self) -> None:
        if self.ttl_days < 0:
            raise ValueError(f"ttl_days must not be negative, got {self.ttl_days}")
        if self.cluster is not None and not re.fullmatch(r"[A-Za-z0-9_.-]+", self.cluster):
            raise ValueError(f"cluster name must be a plain identifier, got {self.cluster!r}")

    def values(self) -> dict[str, str]:
        days = self.ttl_days
        return {
            "on_cluster": f"ON CLUSTER '{self.cluster}'" if self.cluster else "",
            "engine_prefix": "Replicated" if self.cluster else "",
            "traces_ttl": f"TTL toDate(Timestamp) + toIntervalDay({days})" if days else "",
            "logs_ttl": f"TTL toDate(Timestamp) + toIntervalDay({days})" if days else "",
            "metrics_ttl": f"TTL toDateTime(TimeUnix) + toIntervalDay({days})" if days else "",
        }


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    up: str
    down: str

    def checksum(self) -> str:
        return hashlib.sha256(self.up.encode("utf-8")).hexdigest()[:16]


def migrations_dir() -> Path:
    """Where the migration files are: the wheel's packaged copy, else the source tree's."""
    packaged = Path(__file__).resolve().parents[2] / "data" / "migrations"
    if any(packaged.glob("*.up.sql")):
        return packaged
    source = Path(__file__).resolve().parents[3] / "clickhouse" / "migrations"
    if any(source.glob("*.up.sql")):
        return source
    raise MigrationError(f"no migration files found in {packaged} or {source}")


def load_migrations(directory: Path | None = None) -> list[Migration]:
    """Every up/down pair in version order; a missing half or a duplicate number is an error."""
    directory = directory or migrations_dir()
    halves: dict[int, dict[str, tuple[str, str]]] = {}
    for path in sorted(directory.iterdir()):
        match = _FILE.match(path.name)
        if not match:
            continue
        version, name, direction = int(match[1]), match[2], match[3]
        pair = halves.setdefault(version, {})
        if direction in pair or any(n != name for n, _ in pair.values()):
            raise MigrationError(f"migration {version:04d} is defined twice ({path.name})")
        pair[direction] = (name, path.read_text(encoding="utf-8"))
    migrations = []
    for version in sorted(halves):
        pair = halves[version]
        if set(pair) != {"up", "down"}:
            raise MigrationError(f"migration {version:04d} needs both an .up.sql and a .down.sql file")
        migrations.append(Migration(version, pair["up"][0], pair["up"][1], pair["down"][1]))
    return migrations


def render(sql: str, options: RenderOptions) -> str:
    """Fill the deployment placeholders; anything else in braces (e.g. replica macros) is kept."""
    values = options.values()
    rendered = _PLACEHOLDER.sub(lambda m: values[m[1]], sql)
    return re.sub(r"[ \t]+\n", "\n", rendered)


def split_statements(sql: str) -> list[str]:
    """Split a file on top-level ``;`` (outside quotes and comments); empty statements are dropped."""
    statements: list[str] = []
    current: list[str] = []
    quote: str | None = None
    i = 0
    while i < len(sql):
        ch = sql[i]
        if quote:
            current.append(ch)
            if ch == "\\" and i + 1 < len(sql):
                current.append(sql[i + 1])
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "'`\"":
            quote = ch
            current.append(ch)
        elif ch == "-" and sql.startswith("--", i):
            end = sql.find("\n", i)
            i = len(sql) if end < 0 else end
            continue
        elif ch == ";":
            statements.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    statements.append("".join(current))
    return [s.strip() for s in statements if s.strip()]


def _bootstrap(executor: _Executor, options: RenderOptions) -> None:
    executor.execute(
        render(
            "CREATE TABLE IF NOT EXISTS schema_migrations {on_cluster} ("
            " version UInt32, name String, checksum String,"
            " applied_at DateTime64(3, 'UTC') DEFAULT now64(3), is_applied UInt8, seq UInt64)"
            " ENGINE = {engine_prefix}ReplacingMergeTree(seq) ORDER BY version",
            options,
        )
    )
    executor.execute(
        render(
            "CREATE TABLE IF NOT EXISTS schema_migration_leases {on_cluster} ("
            " owner String, taken_at DateTime64(6, 'UTC'), released UInt8)"
            " ENGINE = {engine_prefix}ReplacingMergeTree(released) ORDER BY owner",
            options,
        )
    )


@contextlib.contextmanager
def _migration_lease(executor: _Executor, poll_s: float = 0.2) -> Iterator[None]:
    """Hold the store's migration lease while the block runs; wait while another process holds it.

    Each contender inserts its own row and then reads the oldest live one (server time, ties by
    owner): every reader that sees both rows agrees which came first, and a row inserted after the
    winner read is later than the winner's. On a cluster the lease table is replicated, not read with
    quorum, so there run ``hive-otel migrate`` once before starting the replicas.
    """
    owner = secrets.token_hex(8)
    take = f"INSERT INTO schema_migration_leases VALUES ('{owner}', now64(6), 0)"
    executor.execute(take)
    try:
        waiting_for = None
        while (holder := _lease_holder(executor)) != owner:
            if holder is None:  # ours expired while we waited out others: queue again
                executor.execute(take)
                continue
            if holder != waiting_for:
                logger.warning("waiting for another process (lease %s) to finish migrating the store", holder)
                waiting_for = holder
            time.sleep(poll_s)
        yield
    finally:
        executor.execute(
            f"INSERT INTO schema_migration_leases SELECT owner, taken_at, 1 FROM schema_migration_leases "
            f"WHERE owner = '{owner}' LIMIT 1"
        )


def _lease_if_shared(executor: _Executor, shared: bool) -> contextlib.AbstractContextManager[None]:
    """The migration lease for a store other processes may migrate at once (a server's); none for an
    embedded one, whose lock file already makes this process its only user: a lease there only outlived
    a migrator killed mid-way, and held the next owner for LEASE_SECONDS (a crash audit)."""
    return _migration_lease(executor) if shared else contextlib.nullcontext()


def _lease_holder(executor: _Executor) -> str | None:
    _, rows = executor.query(
        "SELECT owner FROM schema_migration_leases FINAL "
        f"WHERE released = 0 AND taken_at > now64(6) - INTERVAL {LEASE_SECONDS} SECOND "
        "ORDER BY taken_at, owner LIMIT 1"
    )
    return str(rows[0][0]) if rows else None


def applied_versions(executor: _Executor) -> set[int]:
    """Versions currently applied (a rolled-back version keeps a row with is_applied = 0)."""
    return set(applied_history(executor))


def applied_history(executor: _Executor) -> dict[int, tuple[str, str]]:
    """``version -> (name, checksum)`` of every migration the store records as applied."""
    _, rows = executor.query(
        "SELECT version, argMax(name, seq), argMax(checksum, seq), argMax(is_applied, seq) "
        "FROM schema_migrations GROUP BY version"
    )
    return {int(row[0]): (str(row[1]), str(row[2])) for row in rows if int(row[3])}


def missing_migrations(executor: _Executor) -> list[Migration]:
    """This package's migrations the store has not applied, all of them where it records none; checked as
    :func:`apply_migrations` checks first (MigrationHistoryError for another set's). Writes nothing."""
    _, rows = executor.query(
        "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = 'schema_migrations'"
    )
    history = applied_history(executor) if int(str(rows[0][0])) else {}
    migrations = load_migrations()
    check_history(history, migrations)
    return [migration for migration in migrations if migration.version not in history]


def check_history(history: dict[int, tuple[str, str]], migrations: list[Migration]) -> None:
    """Raise :class:`MigrationHistoryError` unless every applied migration is one of ``migrations``.

    A version above the newest of ``migrations`` passes (a store a newer hive-otel migrated); one
    that this package has under another name or checksum does not.
    """
    ours = {m.version: (m.name, m.checksum()) for m in migrations}
    foreign = sorted(v for v, recorded in history.items() if ours.get(v, recorded) != recorded)
    if not foreign:
        return
    if all(PREFOLD_CHAIN.get(v) == recorded for v, recorded in history.items()):
        raise MigrationHistoryError(_prefold_message(history))
    listed = ", ".join(
        f"{v:04d}_{history[v][0]} ({history[v][1]})"
        + (f" where this hive-otel has {v:04d}_{ours[v][0]} ({ours[v][1]})" if v in ours else "")
        for v in foreign[:3]
    )
    raise MigrationHistoryError(
        f"the store records migrations that are not this hive-otel's: {listed}"
        f"{f' and {len(foreign) - 3} more' if len(foreign) > 3 else ''} (version, name, checksum). A migration "
        "is never edited once a store has it (clickhouse/migrations/README.md): open this store with the "
        "hive-otel that migrated it, or move it aside and let this one create a new store"
    )


def _prefold_message(history: dict[int, tuple[str, str]]) -> str:
    if history == PREFOLD_CHAIN:
        return (
            f"the store was migrated before hive-otel's migrations were folded (it records the pre-fold "
            f"0001-{max(PREFOLD_CHAIN):04d}); its schema is exactly the folded one, so record it as such "
            f"with `{RESTAMP_COMMAND}` (with the same --store), which changes nothing else"
        )
    last = max(history)
    return (
        f"the store was migrated before hive-otel's migrations were folded, and only part way: it records "
        f"{len(history)} of the {len(PREFOLD_CHAIN)} pre-fold migrations (up to {last:04d}_{history[last][0]}), "
        "a schema the folded set cannot continue. Move it aside and let hive-otel create a new store (clients "
        "send their history again with `hive-otel backfill --replay`), or migrate it to the end with the "
        f"hive-otel commit that made it and then run `{RESTAMP_COMMAND}`"
    )


def apply_migrations(
    executor: _Executor, options: RenderOptions | None = None, directory: Path | None = None, *, shared: bool = True
) -> list[int]:
    """Apply every migration not applied yet, in order; returns the versions applied now.

    Idempotent: applied versions are skipped, and each statement uses IF NOT EXISTS, so a run that
    died half-way through a file simply re-runs that file. ``directory`` is for tests (the pre-fold
    chain); raises :class:`MigrationHistoryError` for a store another set of migrations made.
    ``shared=False``: see :func:`_lease_if_shared`.
    """
    options = options or RenderOptions()
    _bootstrap(executor, options)
    migrations = load_migrations(directory)
    history = applied_history(executor)
    check_history(history, migrations)
    if all(migration.version in history for migration in migrations):
        return []  # the usual start: nothing to do, no lease taken
    with _lease_if_shared(executor, shared):
        history = applied_history(executor)  # read again: a process we waited for may have applied them
        check_history(history, migrations)
        applied = []
        for migration in migrations:
            if migration.version in history:
                continue
            for statement in split_statements(render(migration.up, options)):
                try:
                    executor.execute(statement)
                except Exception as exc:
                    raise MigrationError(f"migration {migration.version:04d}_{migration.name} failed: {exc}") from exc
            _record(executor, [(migration.version, migration.name, migration.checksum(), True)])
            logger.info("applied migration %04d_%s", migration.version, migration.name)  # an upgrade says what it did
            applied.append(migration.version)
    return applied


def rollback_migrations(
    executor: _Executor, to_version: int, options: RenderOptions | None = None, *, shared: bool = True
) -> list[int]:
    """Run the down files of every applied migration above ``to_version``, newest first."""
    options = options or RenderOptions()
    _bootstrap(executor, options)
    migrations = load_migrations()
    with _lease_if_shared(executor, shared):
        history = applied_history(executor)
        check_history(history, migrations)
        rolled = []
        for migration in reversed(migrations):
            if migration.version <= to_version or migration.version not in history:
                continue
            for statement in split_statements(render(migration.down, options)):
                executor.execute(statement)
            _record(executor, [(migration.version, migration.name, migration.checksum(), False)])
            rolled.append(migration.version)
    return rolled


def restamp_prefold(executor: _Executor, options: RenderOptions | None = None) -> list[int]:
    """Record a store migrated by the complete pre-fold chain as migrated by the folded set.

    Nothing but ``schema_migrations`` changes: the chain's end schema is the folded set's (a test
    proves it object by object). One insert, so a crash leaves the old records or the new ones. Returns
    the versions stamped; [] when the store already records this package's migrations (or none);
    raises :class:`MigrationHistoryError` for a partly applied pre-fold chain or another history.
    """
    _bootstrap(executor, options or RenderOptions())
    migrations = load_migrations()
    history = applied_history(executor)
    if history != PREFOLD_CHAIN:
        check_history(history, migrations)
        return []
    folded_set = [m for m in migrations if m.version <= FOLDED_LAST]  # later ones: applied by the next migrate
    folded = {m.version for m in folded_set}
    retired = [(v, name, checksum, False) for v, (name, checksum) in PREFOLD_CHAIN.items() if v not in folded]
    _record(executor, retired + [(m.version, m.name, m.checksum(), True) for m in folded_set])
    return sorted(folded)


def _record(executor: _Executor, rows: list[tuple[int, str, str, bool]]) -> None:
    """One ``schema_migrations`` row per (version, name, checksum, applied), in one insert."""
    seq = time.time_ns()
    values = ", ".join(
        f"({version}, '{name}', '{checksum}', {int(applied)}, {seq + i})"
        for i, (version, name, checksum, applied) in enumerate(rows)
    )
    executor.execute(f"INSERT INTO schema_migrations (version, name, checksum, is_applied, seq) VALUES {values}")
