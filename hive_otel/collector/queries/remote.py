"""Reading a store that a running collector owns: ask the collector, by parameters.

An embedded (chDB) store has one owner process; while a collector holds it, ``hive-otel usage``,
``status``, ``sql`` and ``report`` ask that collector at the URL recorded in the store's lock file
(:func:`open_reader`), with the local admin token the collector wrote beside the store (whoever may
read the store's files may ask its owner), else ``HIVE_OTEL_TOKEN``:

* usage: ``POST {owner}/hive/v1/usage`` ``{"group_by", "since", "until", "tenant", "filters"}`` → the usage
  report; ``filters`` holds ``session`` as a list for a set of sessions (up to ~24,000 ids of 40 characters
  in the 1 MiB a body may be), which a collector from before that form refuses (400: "filter session:
  expected a string value, got list") rather than ignores; one from before 6 December ignores ``filters``;
* status: ``POST {owner}/hive/v1/status`` ``{"tenant", "limit"}`` → ``{"columns", "rows"}``;
* SQL (``hive-otel sql``, ``report``'s dashboard panels): ``POST {owner}/hive/v1/query`` ``{"sql"}`` →
  ``{"columns", "rows"}``, the SQL console, served to an admin token on this machine only.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from hive_otel.collector.queries.usage import Queryable, UsageQuery, UsageReport
from hive_otel.collector.store.store import chdb_path, default_store_url, open_store, read_owner
from hive_otel.collector.store.transport import StoreError, StoreLockedError, read_admin_token
from hive_otel.environment_variables import HIVE_OTEL_TOKEN

__all__ = ["QUERY_PATH", "STATUS_PATH", "USAGE_PATH", "RemoteStore", "open_reader"]

QUERY_PATH = "/hive/v1/query"
USAGE_PATH = "/hive/v1/usage"
STATUS_PATH = "/hive/v1/status"


class RemoteStore:
    """The reads of a store, asked of the process that owns it."""

    def __init__(self, owner_url: str, timeout_s: float = 30.0, token: str | None = None) -> None:
        self.owner_url = owner_url.rstrip("/")
        self.timeout_s = timeout_s
        self.token = token if token is not None else os.environ.get(HIVE_OTEL_TOKEN, "").strip() or None

    def query(self, sql: str, readonly: bool = True) -> tuple[list[str], list[list[Any]]]:
        """Run ``sql`` on the collector's SQL console (admin token only, console policy applies)."""
        doc = self._post(QUERY_PATH, {"sql": sql, "readonly": True})
        return list(doc["columns"]), list(doc["rows"])

    def console_query(self, sql: str) -> tuple[list[str], list[list[Any]]]:
        return self.query(sql)

    def usage_report(self, query: UsageQuery) -> UsageReport:
        """The usage report, asked by parameters (``POST /hive/v1/usage``), not as SQL."""
        since, until = (t.isoformat() if t else None for t in (query.since, query.until))
        body = {"group_by": list(query.group_by), "since": since, "until": until, "tenant": query.tenant}
        filters: dict[str, Any] = dict(query.filters)
        if query.sessions is not None:
            # A list where a collector took only strings: an older one refuses the set, never answers without it.
            filters["session"] = list(query.sessions)
        if filters:
            body["filters"] = filters
        return UsageReport(**{**self._post(USAGE_PATH, body), "group_by": list(query.group_by)})

    def recent_sessions(self, tenant: str | None, limit: int) -> tuple[list[str], list[list[Any]]]:
        """``hive-otel status``'s table, asked by parameters (``POST /hive/v1/status``)."""
        doc = self._post(STATUS_PATH, {"tenant": tenant, "limit": limit})
        return list(doc["columns"]), list(doc["rows"])

    def _post(self, path: str, document: dict[str, Any]) -> dict[str, Any]:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        body = json.dumps(document).encode()
        request = urllib.request.Request(self.owner_url + path, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return dict(json.loads(response.read()))
        except urllib.error.HTTPError as exc:
            detail = _error_text(exc)
            if exc.code == 400:  # the collector refused what was asked (a bad statement or parameter): a usage error
                raise ValueError(detail) from exc
            raise StoreError(f"the collector at {self.owner_url} refused the request ({exc.code}): {detail}") from exc
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise StoreError(f"cannot ask the collector at {self.owner_url}: {exc}") from exc

    def close(self) -> None:
        return None


def _error_text(error: urllib.error.HTTPError) -> str:
    """The reason in the collector's ``{"error": ...}`` answer, else the start of its body."""
    body = error.read().decode("utf-8", "replace")
    try:
        return str(json.loads(body)["error"])
    except (ValueError, KeyError, TypeError):
        return body[:500]


def open_reader(url: str | None) -> tuple[Queryable, Callable[[], None]]:
    """The store itself, or the collector that owns it, and how to let go of it; raises StoreError
    when neither is usable (:class:`StoreLockedError` when another process holds it without a URL),
    when a chDB path holds no store (a reader never creates one), or when a server store lacks this
    package's migrations (a reader never applies them there)."""
    url = url or default_store_url()
    path = chdb_path(url)
    if path is not None:
        owner = read_owner(path)
        if owner is not None:
            if owner.get("owner_url"):
                remote = RemoteStore(owner["owner_url"], token=read_admin_token(path))
                return remote, remote.close
            raise StoreLockedError(path, owner)
        store = open_store(url, create=False)  # this process owns it now: opening migrates and recovers it
        return store, store.close
    store = open_store(url, migrate=False)  # a server store is shared: read it as it is
    try:
        store.check_migrated()
    except Exception:
        store.close()
        raise
    return store, store.close
