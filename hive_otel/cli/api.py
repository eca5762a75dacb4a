"""``hive-otel api``: the status and usage API on its own port, over a store it opens itself.

A running ``hive-otel collector`` already serves the same API on its OTLP/HTTP port (it owns an
embedded store, and only one process may), and only there are the live streams fed by ingest; this
command is for a ClickHouse server store read by several collectors, or an embedded store while no
collector runs. Exit codes: 0 after a clean shutdown, 1 when the port is taken, 2 for invalid
settings, 3 when the store cannot be opened (or a collector owns it: use the collector's URL).
"""

from __future__ import annotations

import argparse
import functools
import logging
import sys

import uvicorn

from hive_otel import environment_variables as ev
from hive_otel.cli.flags import env_flag, store_flag
from hive_otel.collector.auth.loopback import is_loopback_bind
from hive_otel.collector.auth.principal import TenantAuth
from hive_otel.collector.config import load_tokens, parse_host_port
from hive_otel.settings import SettingsError

__all__ = ["DEFAULT_API_ENDPOINT", "register"]

logger = logging.getLogger(__name__)

DEFAULT_API_ENDPOINT = "127.0.0.1:8318"


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``hive-otel api`` (hive_otel.cli.COMMANDS lists it)."""
    parser = sub.add_parser(
        "api",
        help="serve the status and usage API (OpenAPI at /openapi.json) over a store",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    store_flag(parser)
    parser.add_argument("--listen", metavar="HOST:PORT", default=DEFAULT_API_ENDPOINT,
                        help=f"listen address (default: {DEFAULT_API_ENDPOINT}; port 0 = any)")  # fmt: skip
    env_flag(parser, "--tokens", ev.HIVE_OTEL_COLLECTOR_TOKENS, metavar="FILE", help="the collector's tokens file",
             fallback="none: loopback only, every tenant readable")  # fmt: skip
    parser.set_defaults(func=run_api)


def run_api(args: argparse.Namespace) -> int:
    from hive_otel.collector.api.service import ApiService
    from hive_otel.collector.config import DEFAULT_REQUEST_TIMEOUT_S
    from hive_otel.collector.receiver.otlp_http import capped_body
    from hive_otel.collector.receiver.request_deadline import RequestDeadlineProtocol
    from hive_otel.collector.store.store import (
        StoreError,
        StoreUrlError,
        chdb_path,
        default_store_url,
        open_store,
        read_owner,
    )

    try:
        listen = parse_host_port(args.listen, "--listen")
        tokens = load_tokens(args.tokens)
        if tokens is None and not is_loopback_bind(listen.host):
            raise SettingsError("--listen: without --tokens the API listens on loopback only")
        url = args.store or default_store_url()
        path = chdb_path(url)
    except (SettingsError, StoreUrlError) as exc:
        print(f"hive-otel api: {exc}", file=sys.stderr)
        return 2
    owner = read_owner(path) if path is not None else None
    if owner is not None and owner.get("owner_url"):
        print(f"hive-otel api: the collector at {owner['owner_url']} owns {url} and serves this API at "
              f"{owner['owner_url']}/api/ (OpenAPI at {owner['owner_url']}/openapi.json)", file=sys.stderr)  # fmt: skip
        return 3
    try:
        store = open_store(url)
    except StoreError as exc:
        print(f"hive-otel api: {exc}", file=sys.stderr)
        return 3
    service = ApiService(store, TenantAuth(tokens))
    service.start()
    try:
        # The collector's port guards: bodies capped before FastAPI reads them, slow requests cut off.
        app = capped_body(service.app, lambda peer, exc: logger.warning("refused API request from %s: %s", peer, exc))
        deadline = functools.partial(
            RequestDeadlineProtocol,
            timeout_s=DEFAULT_REQUEST_TIMEOUT_S,
            on_timeout=lambda peer: logger.warning("closed %s: no whole request in %g s", peer, DEFAULT_REQUEST_TIMEOUT_S),
        )
        config = uvicorn.Config(
            app,
            host=listen.host,
            port=listen.port,
            http=deadline,  # type: ignore[arg-type]  # uvicorn calls it as the protocol class
            log_config=None,
            access_log=False,
            proxy_headers=False,  # the loopback checks must see the real peer, as on the collector's port
            server_header=False,
        )
        server = uvicorn.Server(config)
        print(f"hive-otel api: serving {url} on http://{listen} (OpenAPI at /openapi.json)", flush=True)
        server.run()
        return 0 if server.started else 1
    finally:
        service.stop()
        store.close()
