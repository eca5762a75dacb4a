"""Client-side subcommands: ``backfill`` (all history once), ``watch`` (tail forever), ``doctor``,
``outbox`` (what is queued and dead-lettered; ``outbox retry`` re-queues dead letters).

Exit codes: 0 done (everything acknowledged by the receiver), 1 some requests were refused for good
(dead-lettered), 2 configuration error (e.g. no endpoint, a HIVE_HOME that does not exist), 4 timed
out with data still queued, 5 the receiver refused the credentials (HTTP 401/403, gRPC
UNAUTHENTICATED/PERMISSION_DENIED): the run stopped and the data stays queued for the next run,
6 (backfill) the history did not fit the outbox: the checkpoints stay where they were, and a rerun reads it again.

A flag that sets a setting (``--hive-home``, ``--timeout``, ``--interval``) falls back to its variable of
:mod:`hive_otel.environment_variables`, named in its ``--help``, then to the default in
:mod:`hive_otel.settings`. Every command drives one :class:`~hive_otel.client.client.Client` by its ``step``.
"""

from __future__ import annotations

import argparse
import errno
import functools
import json
import math
import signal
import socket
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from hive_otel import environment_variables as ev
from hive_otel.attributes import SEMCONV_SCHEMA_URL
from hive_otel.cli.flags import positive_seconds, seconds
from hive_otel.client.client import OUTBOX_FILE, Client, load_policy
from hive_otel.client.mapping.semconv import GenAiConventions
from hive_otel.client.outbox import Outbox
from hive_otel.client.sources.checkpoints import CHECKPOINTS_FILE, StateInUse, sole_reader
from hive_otel.client.sources.files import Checkpoints, FileTailer
from hive_otel.client.sources.records import HiveRecord
from hive_otel.policy import PolicyError
from hive_otel.settings import (
    DEFAULT_BACKFILL_TIMEOUT_S,
    DEFAULT_WATCH_INTERVAL_S,
    ClientSettings,
    SettingsError,
)

EXIT_OK, EXIT_DEAD_LETTERS, EXIT_CONFIG, EXIT_TIMEOUT, EXIT_UNAUTHORIZED, EXIT_OUTBOX_FULL = 0, 1, 2, 4, 5, 6
CHECKPOINT_INTERVAL_S = 10.0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the client's commands (each with a ``func`` default returning an exit code)."""
    _add_backfill(sub)
    _add_watch(sub)
    _add_doctor(sub)
    _add_outbox(sub)


def _add_backfill(sub: argparse._SubParsersAction) -> None:
    backfill = sub.add_parser(
        "backfill",
        help="export all Hive history under HIVE_HOME once, then exit",
        description=(
            "Read every events.jsonl and L1-L3 run log under HIVE_HOME, map it to OpenTelemetry and "
            f"deliver it to {ev.HIVE_OTEL_ENDPOINT}. Resumes from checkpoints, so a second run sends only "
            "what is new. Exit codes: 0 once the receiver acknowledged everything, 1 some requests were refused "
            "for good (dead-lettered: see `hive-otel outbox`), 2 configuration error (no endpoint, no Hive home), "
            "4 timed out with data still queued, 5 the receiver refused the credentials (the data stays queued), 6 "
            "the history did not fit the outbox (checkpoints not advanced: a rerun reads it again). When the outbox "
            "is full, reading waits for the receiver."
        ),
    )
    _common(backfill)
    backfill.add_argument("--no-wait", action="store_true", help="only write to the outbox; do not wait for delivery")
    backfill.add_argument(
        "--replay", action="store_true",
        help="ignore checkpoints and send everything again (spans, log records and usage are stored once; metric "
        "points again)",
    )  # fmt: skip
    backfill.add_argument(
        "--timeout", type=seconds, dest="backfill_timeout_s", metavar="SECONDS",
        help="seconds to wait for delivery "
        f"(default: ${ev.HIVE_OTEL_BACKFILL_TIMEOUT_S}, else {DEFAULT_BACKFILL_TIMEOUT_S:g})",
    )  # fmt: skip
    backfill.set_defaults(func=_unusable_state_is_a_config_error(cmd_backfill))


def _add_watch(sub: argparse._SubParsersAction) -> None:
    watch = sub.add_parser(
        "watch",
        help="tail HIVE_HOME continuously and export as Hive writes",
        description=(
            "Tail Hive's files and export new records as they are written, until interrupted. Exit codes: 0 "
            "after SIGINT or SIGTERM, 2 configuration error, 5 the receiver refused the credentials (it stops; "
            "the data stays queued)."
        ),
    )
    _common(watch)
    watch.add_argument(
        "--interval", type=positive_seconds, dest="watch_interval_s", metavar="SECONDS",
        help=f"seconds between polls (default: ${ev.HIVE_OTEL_WATCH_INTERVAL_S}, else {DEFAULT_WATCH_INTERVAL_S:g})",
    )  # fmt: skip
    watch.set_defaults(func=_unusable_state_is_a_config_error(cmd_watch))


def _add_doctor(sub: argparse._SubParsersAction) -> None:
    doctor = sub.add_parser(
        "doctor",
        help="print the effective configuration, endpoint reachability, outbox depth and counters",
        description=(
            "Print the effective configuration, whether the endpoint answers, the outbox depth and the counters; "
            "--show-payload prints what one session would send instead. Exit codes: 0 ok, 2 configuration error: "
            "what backfill and watch would refuse (a Hive home that does not exist, a redaction policy that cannot "
            "be used), listed under problems; or --session without --show-payload, or no such session."
        ),
    )
    _common(doctor)
    doctor.add_argument("--json", action="store_true", help="print as JSON")
    doctor.add_argument(
        "--show-payload",
        action="store_true",
        help="print, as OTLP/JSON, exactly what one session would send after redaction; sends nothing",
    )
    doctor.add_argument(
        "--session", metavar="ID", help="with --show-payload: this session instead of the most recent one"
    )
    doctor.set_defaults(func=_unusable_state_is_a_config_error(cmd_doctor))


def _add_outbox(sub: argparse._SubParsersAction) -> None:
    outbox = sub.add_parser(
        "outbox",
        help="show the queued and dead-lettered export requests; `outbox retry` re-queues dead letters",
        description=(
            "Without an action (or with `status`): how many requests wait in the outbox, why the head of the "
            "queue waits, and the dead letters with their reasons. `retry` moves dead letters back into the "
            "queue (all, or those given with --id) for the next backfill or watch to deliver. Exit codes: 0 ok, "
            "2 configuration error, or an --id that is no dead letter (the others given are re-queued)."
        ),
    )
    _common(outbox)
    outbox.add_argument(
        "action", nargs="?", choices=("status", "retry"), default="status", help="status (the default) or retry"
    )
    outbox.add_argument("--id", type=int, action="append", dest="ids", metavar="ID", help="retry: only this dead letter")
    outbox.add_argument("--json", action="store_true", help="status: print as JSON")
    outbox.set_defaults(func=_unusable_state_is_a_config_error(cmd_outbox))


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--hive-home", type=Path, help=f"Hive's data root (default: ${ev.HIVE_HOME}, else ~/.hive)")


# The flags that set a ClientSettings field (each flag's dest is the field's name): the flag wins over
# the field's variable of hive_otel.environment_variables, which wins over the default in settings.py.
_SETTINGS_FLAGS = ("hive_home", "backfill_timeout_s", "watch_interval_s")


def _settings(args: argparse.Namespace) -> ClientSettings:
    return ClientSettings.from_env(**{name: getattr(args, name, None) for name in _SETTINGS_FLAGS})


def _resolve(args: argparse.Namespace, *, needs_endpoint: bool, needs_home: bool = False) -> ClientSettings | int:
    """The command's settings, or the exit code to return when they are invalid or opt-in is missing."""
    try:
        settings = _settings(args)
    except SettingsError as err:
        print(f"hive-otel: {err}", file=sys.stderr)
        return EXIT_CONFIG
    home_problem = _home_problem(settings)
    if needs_home and home_problem:
        # Not created: reading an empty home would claim success for a typo in the path.
        print(f"hive-otel: {home_problem}", file=sys.stderr)
        return EXIT_CONFIG
    if needs_endpoint and settings.disabled:
        print(f"hive-otel: {ev.OTEL_SDK_DISABLED}=true, nothing to do", file=sys.stderr)
        return EXIT_OK
    if needs_endpoint and not settings.endpoint:
        print(
            f"hive-otel: {ev.HIVE_OTEL_ENDPOINT} is not set, so nothing leaves this machine. "
            f"Set it to an OTLP endpoint (e.g. http://127.0.0.1:4318) to export.",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    return settings


def _home_problem(settings: ClientSettings) -> str | None:
    if settings.hive_home.is_dir():
        return None
    return (
        f"Hive home {settings.hive_home} does not exist or is not a directory "
        f"(--hive-home, or ${ev.HIVE_HOME}; Hive's default is ~/.hive)"
    )


def _problems(settings: ClientSettings) -> list[str]:
    """What backfill and watch would refuse to start with, checked as they check it."""
    problems = [problem] if (problem := _home_problem(settings)) else []
    try:
        load_policy(settings)
    except PolicyError as err:
        problems.append(str(err))
    return problems


class _Progress:
    """One self-rewriting status line on a terminal; silent otherwise."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()
        self._last = 0.0
        self.records = 0

    def reading(self, records: Iterable[HiveRecord]) -> Iterator[HiveRecord]:
        """``records`` as they are read, counted in ``self.records`` and shown every 5000."""
        for record in records:
            self.records += 1
            if self.records % 5000 == 0:
                self.show(f"reading Hive files: {self.records:,} records")
            yield record

    def show(self, text: str, force: bool = False) -> None:
        now = time.monotonic()
        if self.enabled and (force or now - self._last > 0.1):
            self._last = now
            sys.stderr.write("\r\x1b[2K" + text)
            sys.stderr.flush()

    def done(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")

    def waiting_for_room(self) -> None:
        self.show("the outbox is full: waiting for the receiver to take some of it", force=True)


def _unusable_state_is_a_config_error(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """A state directory the client cannot use (a file in its place, no permission, a checkpoints or
    outbox file that is not SQLite) or a redaction policy it cannot read: exit 2 with the reason and
    what to do, not a traceback."""

    @functools.wraps(command)
    def guarded(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except (PolicyError, StateInUse) as err:
            print(f"hive-otel: {err}", file=sys.stderr)
        except BrokenPipeError:
            raise  # the reader of stdout left, the state is fine: hive_otel.cli.run ends the command quietly
        except (sqlite3.DatabaseError, OSError) as err:
            state = _settings(args).state_dir
            if "disk is full" in str(err) or getattr(err, "errno", None) == errno.ENOSPC:
                advice = "free some and run again: the checkpoints were not advanced past what the outbox holds"
                print(f"hive-otel: no space left for the client's state in {state} ({err}); {advice}", file=sys.stderr)
            else:
                advice = "fix it, or move it aside to start afresh (`hive-otel backfill --replay` then resends the history)"
                print(f"hive-otel: the client's state in {state} cannot be used ({err}); {advice}", file=sys.stderr)
        return EXIT_CONFIG

    return guarded


def _warn_if_the_queue_was_lost(settings: ClientSettings) -> None:
    """Checkpoints say "queued up to here"; without the outbox, what it held undelivered is gone."""
    state = settings.state_dir
    if (state / CHECKPOINTS_FILE).exists() and not (state / OUTBOX_FILE).exists():
        print(f"hive-otel: warning: {state} has checkpoints but no outbox: what the outbox held undelivered is "
              "gone, and only what Hive writes from now on is read; `hive-otel backfill --replay` sends the whole "
              "history again (the collector keeps each call once)", file=sys.stderr)  # fmt: skip


def cmd_backfill(args: argparse.Namespace) -> int:
    settings = _resolve(args, needs_endpoint=True, needs_home=True)
    if isinstance(settings, int):
        return settings
    return backfill(settings, no_wait=args.no_wait, replay=args.replay)


def backfill(
    settings: ClientSettings, *, no_wait: bool = False, replay: bool = False, timeout_s: float | None = None
) -> int:
    """Export all history once; the library form of ``hive-otel backfill`` (``timeout_s``: the settings').
    Raises :class:`StateInUse` while another watch or backfill reads into the same state directory."""
    with sole_reader(settings.state_dir):
        return _backfill(settings, no_wait=no_wait, replay=replay, timeout_s=timeout_s)


def _backfill(settings: ClientSettings, *, no_wait: bool, replay: bool, timeout_s: float | None) -> int:
    timeout_s = settings.backfill_timeout_s if timeout_s is None else timeout_s
    progress = _Progress()
    deadline = time.monotonic() + timeout_s
    if not replay:
        _warn_if_the_queue_was_lost(settings)
    # --no-wait makes no room, but a backfill's requests still never push out what the outbox holds.
    make_room = (lambda _size: None) if no_wait else (
        lambda size: _wait_for_room(client, size, lambda: time.monotonic() >= deadline, progress.waiting_for_room)
    )
    client: Client = Client(settings, join_window_ns=None, make_room=make_room)
    before = client.outbox.counters()
    client.outbox.retry_now()  # a new run tries the queue at once, whatever the last run was told
    try:
        records = _read_history(client, settings, replay, progress)
    except _HistoryDoesNotFit as exc:
        progress.done()
        client.shutdown(timeout_millis=1000)
        print(f"hive-otel: {exc}", file=sys.stderr)
        return EXIT_OUTBOX_FULL
    pipeline = client.counters()["pipeline"]
    summary = f"{_count(records, 'record')} → {_count(pipeline['spans'], 'span')}, {_count(pipeline['logs'], 'log record')}"
    if oversized := pipeline["oversized_items"]:
        summary += f" ({_count(oversized, 'item')} over {ev.HIVE_OTEL_MAX_REQUEST_BYTES} kept as dead letters)"
    if no_wait:
        progress.done()
        print(f"hive-otel: {summary} queued in the outbox ({settings.state_dir / OUTBOX_FILE})")
        client.shutdown()
        return EXIT_OK
    client.start_sending()
    _wait_for_delivery(client, timeout_s, progress)
    progress.done()
    client.shutdown(timeout_millis=1000)
    # Counted after the shutdown, whose flush may still deliver (with --timeout 0, all that is delivered).
    sender = client.counters()["sender"]
    auth_failure = client.auth_failure
    counters = client.outbox.counters()
    pending, _ = client.outbox.depth()
    summary += f"; {_count(sender['exported_requests'], 'request')} delivered to {settings.endpoint}"
    if sender["rejected_items"]:
        summary += f" ({_count(sender['rejected_items'], 'item')} in them refused by the receiver: logged)"
    return _outcome(summary, pending, counters["dead_lettered"] - before["dead_lettered"], counters, auth_failure, timeout_s)


def _count(n: int, noun: str) -> str:
    """``n`` and ``noun``, plural unless ``n`` is 1: "1 request", "2 requests", "0 requests"."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


class _HistoryDoesNotFit(Exception):
    """The outbox would have had to drop requests to take the history: nothing is committed."""


def _read_history(client: Client, settings: ClientSettings, replay: bool, progress: _Progress) -> int:
    """Map every record under HIVE_HOME into the outbox, then commit the checkpoints (they say "in the
    outbox", not "delivered": the outbox keeps what is not delivered). Returns the records read.

    The outbox makes room by dropping its oldest requests, right for a watch that outlives an outage
    but a silent loss here, under checkpoints saying the history was queued. So requests wait for the
    sender to make room (:func:`_wait_for_room`), and if there is none all the same (no sender:
    --no-wait; a receiver too slow until the deadline) the outbox refuses this run's newest requests
    (never what it held before), the checkpoints are not committed and :class:`_HistoryDoesNotFit`
    says what to do."""
    dropped_before = client.outbox.counters()["dropped_full"]
    tailer = FileTailer(settings.hive_home, Checkpoints(settings.state_dir, fresh=replay))
    client.step(progress.reading(tailer.poll()))
    client.finish()
    dropped = client.outbox.counters()["dropped_full"] - dropped_before
    if dropped:
        tailer.close()
        cap = client.outbox.max_bytes
        raise _HistoryDoesNotFit(
            f"the history did not fit the outbox ({ev.HIVE_OTEL_OUTBOX_MAX_BYTES}={cap}): {_count(dropped, 'request')} "
            f"dropped, so the checkpoints were not advanced. Run again with the receiver reachable (reading "
            f"waits for it when the outbox fills), or raise {ev.HIVE_OTEL_OUTBOX_MAX_BYTES}."
        )
    tailer.commit()
    skipped = tailer.counters["malformed_lines"]
    if skipped:
        print(f"hive-otel: {_count(skipped, 'malformed line')} skipped (logged with file and line)", file=sys.stderr)
    counters = client.counters()
    unmappable = counters["pipeline"]["unmappable_records"] + counters["mapping"]["unusable_records"]
    if unmappable:
        print(f"hive-otel: {_count(unmappable, 'record')} the mapping could not use skipped (logged)", file=sys.stderr)
    unencodable = counters["pipeline"]["unencodable_items"]
    if unencodable:
        print(f"hive-otel: {_count(unencodable, 'item')} OTLP cannot carry dropped (logged)", file=sys.stderr)
    return progress.records


def _wait_for_room(client: Client, size: int, give_up: Callable[[], bool], waiting: Callable[[], None]) -> None:
    """Until the outbox has room for ``size`` more bytes without dropping a pending request (it drops
    dead letters first), unless ``give_up()`` (backfill: its deadline; watch: it is stopping) or the
    receiver refuses the credentials; ``waiting()`` says so meanwhile. The sender starts only then: a
    history that fits is sent after it is read, in the fewer, larger requests the sender merges from a
    full queue (a collector pays a fixed cost per request it stores)."""
    room = client.outbox.max_bytes - size  # below 0: larger than the whole outbox, which refuses it; no wait helps
    while room >= 0 and not give_up() and not client.auth_failure:
        if client.outbox.depth()[1] <= room:
            return
        client.start_sending()
        waiting()
        time.sleep(0.05)


def _wait_for_delivery(client: Client, timeout_s: float, progress: _Progress) -> None:
    """Until the queue is empty, the timeout passes, or the receiver refuses our credentials."""
    deadline = time.monotonic() + timeout_s
    total = max(1, client.outbox.depth()[0])
    while True:
        pending, _ = client.outbox.depth()
        progress.show(f"delivering: {max(0, total - pending):,}/{total:,} requests", force=pending == 0)
        if pending == 0 or time.monotonic() > deadline or client.auth_failure:
            return
        time.sleep(0.05)


def _outcome(
    summary: str, pending: int, dead: int, counters: dict[str, int], auth_failure: str | None, timeout_s: float
) -> int:
    """Print what happened, never claiming delivery of what is queued or dead, and pick the exit code."""
    if auth_failure:
        print(
            f"hive-otel: {summary}; STOPPED: the receiver refused the credentials ({auth_failure}). "
            f"{_count(pending, 'request')} kept queued; set {ev.HIVE_OTEL_TOKEN} (or fix the token) and run again.",
            file=sys.stderr,
        )
        return EXIT_UNAUTHORIZED
    if pending:
        print(f"hive-otel: {summary}; {_count(pending, 'request')} still queued after {timeout_s:.0f}s", file=sys.stderr)
        return EXIT_TIMEOUT
    if dead:
        print(
            f"hive-otel: {summary}; {_count(dead, 'request')} refused for good and kept as "
            f"{'a dead letter' if dead == 1 else 'dead letters'} "
            "(`hive-otel outbox` shows why, `hive-otel outbox retry` re-queues them)",
            file=sys.stderr,
        )
        return EXIT_DEAD_LETTERS
    older = counters["dead_letter_count"]
    note = f" ({_count(older, 'dead letter')} from earlier runs kept: `hive-otel outbox`)" if older else ""
    print(f"hive-otel: {summary}; nothing left queued{note}")
    return EXIT_OK


def cmd_watch(args: argparse.Namespace) -> int:
    settings = _resolve(args, needs_endpoint=True, needs_home=True)
    if isinstance(settings, int):
        return settings
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    client = watch(settings, stop)
    auth_failure = client.auth_failure
    if auth_failure:
        pending, _ = client.outbox.depth()
        print(
            f"hive-otel: watch STOPPED: the receiver refused the credentials ({auth_failure}). {_count(pending, 'request')} "
            f"kept queued; set {ev.HIVE_OTEL_TOKEN} (or fix the token) and start it again.",
            file=sys.stderr,
        )
        return EXIT_UNAUTHORIZED
    return EXIT_OK


def watch(settings: ClientSettings, stop: threading.Event, *, interval_s: float | None = None) -> Client:
    """Tail until ``stop`` is set, or until the receiver refuses the credentials (then
    ``client.auth_failure`` says why); the library form of ``hive-otel watch`` (``interval_s``: the settings').
    Raises :class:`StateInUse` while another watch or backfill reads into the same state directory."""
    with sole_reader(settings.state_dir):
        return _watch(settings, stop, interval_s)


def _watch(settings: ClientSettings, stop: threading.Event, interval_s: float | None) -> Client:
    interval_s = settings.watch_interval_s if interval_s is None else interval_s
    _warn_if_the_queue_was_lost(settings)
    full = _FullOutboxNotice()
    # Hive's files keep what is not read yet, so through a long outage reading waits for room in the outbox
    # instead of the outbox dropping its oldest requests under checkpoints that say they were queued.
    client = Client(
        settings,
        join_window_ns=int(settings.join_window_s * 1e9),
        make_room=lambda size: _wait_for_room(client, size, stop.is_set, full.waiting),
    )
    tailer = FileTailer(settings.hive_home, Checkpoints(settings.state_dir))
    client.outbox.retry_now()
    client.start_sending()
    last_checkpoint = time.monotonic()
    print(f"hive-otel: watching {settings.hive_home} → {settings.endpoint}", file=sys.stderr)
    while not stop.is_set() and not client.auth_failure:
        client.step(tailer.poll())
        full.room_again()
        if time.monotonic() - last_checkpoint >= CHECKPOINT_INTERVAL_S:
            # Calls still waiting for a partner go out alone so the checkpoint never skips a record.
            client.checkpoint()
            _commit_unless_refused(client, tailer)
            last_checkpoint = time.monotonic()
        stop.wait(interval_s)
    client.finish(tailer.poll())
    if not _commit_unless_refused(client, tailer):
        refused = client.counters()["pipeline"]["dropped_requests"]
        print(f"hive-otel: {_count(refused, 'request')} could not be queued (the outbox was full), so the "
              "checkpoints were not advanced: the next run reads those records again", file=sys.stderr)  # fmt: skip
    client.shutdown(timeout_millis=int(settings.timeout_ms))
    return client


class _FullOutboxNotice:
    """Says once per episode that reading waits because the outbox is full."""

    def __init__(self) -> None:
        self._said = False

    def waiting(self) -> None:
        if not self._said:
            print("hive-otel: the outbox is full: reading waits for the receiver to take some of it", file=sys.stderr)
            self._said = True

    def room_again(self) -> None:
        self._said = False


def _commit_unless_refused(client: Client, tailer: FileTailer) -> bool:
    """Commit the checkpoints, unless the outbox refused requests of this run (it was full when the watch
    stopped, or the receiver refused the credentials while it was): False, and the next run reads the
    records since the last commit again (what was queued of them the store recognises)."""
    if client.counters()["pipeline"]["dropped_requests"]:
        return False
    tailer.commit()
    return True


def cmd_doctor(args: argparse.Namespace) -> int:
    settings = _resolve(args, needs_endpoint=False)
    if isinstance(settings, int):
        return settings
    if args.show_payload:
        return show_payload(settings, args.session)
    if args.session:
        print("hive-otel: doctor: --session needs --show-payload (it names the session whose payload is shown)",
              file=sys.stderr)  # fmt: skip
        return EXIT_CONFIG
    report = doctor_report(settings)
    problems = _problems(settings)
    if problems:
        report["problems"] = problems
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        for section, values in report.items():
            print(f"{section}:")
            if isinstance(values, list):
                print("\n".join(f"  {value}" for value in values))
                continue
            for key, value in (values.items() if isinstance(values, dict) else [("", values)]):
                print(f"  {key:<24} {value}")
    return EXIT_CONFIG if problems else EXIT_OK


def cmd_outbox(args: argparse.Namespace) -> int:
    settings = _resolve(args, needs_endpoint=False)
    if isinstance(settings, int):
        return settings
    if args.ids and args.action != "retry":
        print("hive-otel: --id is for `hive-otel outbox retry`; `hive-otel outbox` lists the latest dead letters",
              file=sys.stderr)  # fmt: skip
        return EXIT_CONFIG
    path = settings.state_dir / OUTBOX_FILE
    if not path.exists():
        print(f"hive-otel: no outbox at {path}: nothing queued, no dead letters")
        return _no_such_dead_letters(args.ids or [])
    outbox = Outbox(path, settings.outbox_max_bytes)
    try:
        if args.action == "retry":
            return _retry(outbox, args.ids)
        status = outbox_status(outbox)
    finally:
        outbox.shutdown()
    if args.json:
        print(json.dumps(status, indent=2))
    else:
        _print_outbox_status(status)
    return EXIT_OK


def _retry(outbox: Outbox, ids: list[int] | None) -> int:
    """Re-queue the dead letters ``ids`` names (every one without ids); exit 2 naming an id that is none."""
    moved = outbox.requeue_dead(ids)
    missing = sorted(set(ids or []) - set(moved))
    if moved or not missing:
        next_run = "the next `hive-otel backfill` or `watch` delivers them"
        print(f"hive-otel: {_count(len(moved), 'dead letter')} re-queued; {next_run}")
    return _no_such_dead_letters(missing)


def _no_such_dead_letters(ids: list[int]) -> int:
    """EXIT_OK when ``ids`` is empty; else say that no dead letter has them (a typo, or delivered since)."""
    if not ids:
        return EXIT_OK
    print(f"hive-otel: no dead letter {', '.join(f'#{i}' for i in ids)} (`hive-otel outbox` lists the latest)",
          file=sys.stderr)  # fmt: skip
    return EXIT_CONFIG


def outbox_status(outbox: Outbox) -> dict[str, Any]:
    """What ``hive-otel outbox`` shows: queued and dead-lettered requests, and the lifetime counters."""
    pending, pending_bytes = outbox.depth()
    counters = outbox.counters()
    head = outbox.due(1, math.inf)
    return {
        "path": str(outbox.path),
        "queued": {
            "requests": pending,
            "bytes": pending_bytes,
            "next_attempt_in_s": round(max(0.0, (outbox.next_attempt_at() or 0.0) - time.time()), 1) if head else None,
            "last_error": head[0].last_error if head else None,
        },
        "dead_letters": {
            "requests": counters["dead_letter_count"],
            "bytes": counters["dead_letter_bytes"],
            "latest": [
                {"id": d.id, "signal": d.signal, "items": d.item_count, "bytes": len(d.body), "reason": d.reason}
                for d in outbox.dead_letters(limit=10)
            ],
        },
        "counters": counters,
    }


def _print_outbox_status(status: dict[str, Any]) -> None:
    queued, dead = status["queued"], status["dead_letters"]
    print(f"outbox {status['path']}")
    print(f"  queued        {queued['requests']:,} requests, {queued['bytes']:,} bytes")
    if queued["last_error"]:
        print(f"  head waits    {queued['next_attempt_in_s']} s more; last error: {queued['last_error']}")
    print(f"  dead letters  {dead['requests']:,} requests, {dead['bytes']:,} bytes")
    for letter in dead["latest"]:
        print(f"    #{letter['id']} {letter['signal']} ({letter['items']} items, {letter['bytes']:,} B): {letter['reason']}")
    if dead["requests"]:
        print("  `hive-otel outbox retry` re-queues them")
    print("  counters      " + ", ".join(f"{k}={v}" for k, v in status["counters"].items()))


def show_payload(settings: ClientSettings, session_id: str | None = None) -> int:
    """``hive-otel doctor --show-payload``: one session's redacted export requests as OTLP/JSON."""
    from hive_otel.client.preview import SessionNotFound, preview_session

    try:
        preview = preview_session(settings, session_id)
    except SessionNotFound as err:
        print(f"hive-otel: {err} under {settings.hive_home}", file=sys.stderr)
        return EXIT_CONFIG
    print(json.dumps(preview.as_dict(), indent=2))
    print(
        f"hive-otel: session {preview.session_id}: {len(preview.requests)} export request(s) shown above, "
        "nothing sent" + ("" if settings.exporting else f" ({ev.HIVE_OTEL_ENDPOINT} is not set)"),
        file=sys.stderr,
    )
    return EXIT_OK


def doctor_report(settings: ClientSettings) -> dict[str, object]:
    headers = {k: ("Bearer ***" if k.lower() == "authorization" else v) for k, v in settings.headers.items()}
    config = {
        "exporting": settings.exporting,
        "endpoint": settings.endpoint or f"(unset: set {ev.HIVE_OTEL_ENDPOINT} to opt in)",
        "protocol": settings.protocol,
        "compression": settings.compression,
        "headers": headers or "-",
        "tls files": {name: str(path) for name, path in settings.tls.by_variable().items()} if settings.tls else "-",
        "service.name": settings.service_name,
        "user": settings.user_id or "-",
        "tenant": settings.tenant_id or "-",
        "hive_home": str(settings.hive_home),
        "state_dir": str(settings.state_dir),
        "policy": str(settings.policy_path or "(packaged default)"),
        "outbox cap (bytes)": settings.outbox_max_bytes,
        "GenAI conventions": f"{SEMCONV_SCHEMA_URL} ({GenAiConventions.from_opt_in(settings.semconv_opt_in).value})",
    }
    report: dict[str, object] = {"config": config}
    if settings.endpoint:
        report["endpoint"] = {"reachable": _reachable(settings.endpoint)}
    outbox_path = settings.state_dir / OUTBOX_FILE
    if outbox_path.exists():
        outbox = Outbox(outbox_path, settings.outbox_max_bytes)
        count, size = outbox.depth()
        report["outbox"] = {"pending requests": count, "pending bytes": size, **outbox.counters()}
        dead = outbox.dead_letters(limit=5)
        if dead:
            report["dead letters (latest)"] = {str(d.id): d.reason for d in dead}
        outbox.shutdown()
    else:
        report["outbox"] = {"pending requests": 0, "note": "no outbox yet"}
    return report


def _reachable(endpoint: str) -> str:
    parsed = urlparse(endpoint)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", port), timeout=2):
            return f"yes ({parsed.hostname}:{port} accepts connections)"
    except OSError as err:
        return f"NO ({parsed.hostname}:{port}: {err})"
