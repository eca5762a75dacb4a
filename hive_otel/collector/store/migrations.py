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
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

__all__ = [
    "Migration",
    "MigrationError",
    "RenderOptions",
    "applied_versions",
    "apply_migrations",
    "load_migrations",
    "migrations_dir",
    "render",
    "rollback_migrations",
    "split_statements",
]

_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.(up|down)\.sql$")
_PLACEHOLDER = re.compile(r"\{(on_cluster|engine_prefix|traces_ttl|logs_ttl|metrics_ttl)\}")


class MigrationError(RuntimeError):
    """The migration files are inconsistent, or one failed to apply (the message names it)."""


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


def applied_versions(executor: _Executor) -> set[int]:
    """Versions currently applied (a rolled-back version keeps a row with is_applied = 0)."""
    _, rows = executor.query("SELECT version, argMax(is_applied, seq) FROM schema_migrations GROUP BY version")
    return {int(row[0]) for row in rows if int(row[1])}


def apply_migrations(executor: _Executor, options: RenderOptions | None = None, directory: Path | None = None) -> list[int]:
    """Apply every migration not applied yet, in order; returns the versions applied now.

    Idempotent: applied versions are skipped, and each statement uses IF NOT EXISTS, so a run that
    died half-way through a file simply re-runs that file. ``directory`` is for tests (the pre-fold chain).
    """
    options = options or RenderOptions()
    _bootstrap(executor, options)
    done = applied_versions(executor)
    applied = []
    for migration in load_migrations(directory):
        if migration.version in done:
            continue
        for statement in split_statements(render(migration.up, options)):
            try:
                executor.execute(statement)
            except Exception as exc:
                raise MigrationError(f"migration {migration.version:04d}_{migration.name} failed: {exc}") from exc
        _record(executor, migration, applied=True)
        applied.append(migration.version)
    return applied


def rollback_migrations(executor: _Executor, to_version: int, options: RenderOptions | None = None) -> list[int]:
    """Run the down files of every applied migration above ``to_version``, newest first."""
    options = options or RenderOptions()
    _bootstrap(executor, options)
    done = applied_versions(executor)
    rolled = []
    for migration in reversed(load_migrations()):
        if migration.version <= to_version or migration.version not in done:
            continue
        for statement in split_statements(render(migration.down, options)):
            executor.execute(statement)
        _record(executor, migration, applied=False)
        rolled.append(migration.version)
    return rolled


def _record(executor: _Executor, migration: Migration, *, applied: bool) -> None:
    executor.execute(
        "INSERT INTO schema_migrations (version, name, checksum, is_applied, seq) VALUES "
        f"({migration.version}, '{migration.name}', '{migration.checksum()}', {int(applied)}, {time.time_ns()})"
    )
