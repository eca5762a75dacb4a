"""Run the client benchmarks and write bench/results/<name>.json and the table bench/results/README.md.

    python -m bench.run_all [--skip-run]     (make bench)

Each benchmark runs as its own process, one after another (they measure one core each and must not
share the machine). ``--skip-run`` only rewrites the table from the JSON files already there.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench._common import RESULTS_DIR

BENCHES = {
    "instrument": "bench.bench_instrument",
    "mapping": "bench.bench_mapping",
    "backfill": "bench.bench_backfill",
    "install": "bench.bench_install",
}


def _us(ns: float) -> str:
    return f"{ns / 1000:.2f} µs"


def _rate(per_s: float) -> str:
    return f"{per_s / 1000:,.1f}k spans/s"


def _met(ok: bool) -> str:
    return "yes" if ok else "**no**"


def rows(results: dict[str, dict[str, Any]]) -> list[tuple[str, str, str, str, str]]:
    """(what, figure, goal, baseline from the same run, met) per line of the table."""
    out = []
    if inst := results.get("instrument"):
        goal = inst["goal_added_ns"]
        bare = f"bare `EventBus.publish` {_us(inst['bare_publish_ns'])}; SDK span start+end {_us(inst['sdk_span_ns'])}"
        note_subscribe = f"; a no-op subscriber adds {_us(inst['noop_subscriber']['added_ns'])} (Hive's dispatch)"
        for mode in ("publish", "subscribe"):
            added = inst[mode]["added_ns"]
            note_publish = f"; the SDK span costs {inst['sdk_span_ns'] / max(1, added):.0f}x the hook"
            out.append(
                (
                    f'`instrument(via="{mode}")`: runtime-thread time added per event (median)',
                    _us(added),
                    f"≤ {_us(goal)}",
                    bare + (note_subscribe if mode == "subscribe" else note_publish),
                    _met(added <= goal),
                )
            )
    if mapping := results.get("mapping"):
        out += mapping_rows(mapping)
    if backfill := results.get("backfill"):
        goals = backfill["goals"]
        load = backfill["workload"]
        records = f"{load['records']:,} records, {load['llm_calls']:,} LLM calls, {load['sessions']} sessions"
        if busy := backfill.get("load_average_1min"):
            records += f"; {_load([busy['before']], [busy['after']])}"
        out.append(
            (
                "`hive-otel backfill` end to end to a loopback OTLP/HTTP receiver",
                f"{backfill['seconds']:.1f} s ({backfill['records_per_s']:,} records/s)",
                f"≤ {goals['seconds']:g} s",
                records,
                _met(backfill["seconds"] <= goals["seconds"]),
            )
        )
        by_signal = ", ".join(f"{k} {v:g}" for k, v in backfill["gzip_bytes_per_llm_call_by_signal"].items())
        out.append(
            (
                "gzip body bytes per LLM call (all signals)",
                f"{backfill['gzip_bytes_per_llm_call']:g} B",
                f"≤ {goals['gzip_bytes_per_llm_call']:g} B",
                f"{by_signal}; uncompressed {backfill['raw_bytes_per_llm_call']:g} B",
                _met(backfill["gzip_bytes_per_llm_call"] <= goals["gzip_bytes_per_llm_call"]),
            )
        )
    if install := results.get("install"):
        out += install_rows(install)
    out += collector_rows(_own_result("ingest_split"), _own_result("soak"))
    if server := _own_result("ingest_server_store"):
        out.append(server_store_row(server))
    return out


def mapping_rows(mapping: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """Our passes against the official encoders on the same items; encode_spans against them on the spans alone."""
    goal_rate, goal_ratio = mapping["goals"]["spans_per_s"], mapping["goals"]["ratio_vs_official"]
    same, spans_only = mapping["official_same_work"], mapping["official_spans_only"]
    ratios = mapping["ratio_vs_official"]
    load = mapping["load_average_1min"]
    baseline = (
        f"official encoders on the same spans, log records and metric points: {same['items_per_s'] / 1000:,.1f}k"
        f" items/s; official `encode_spans` on the spans alone {_rate(spans_only['spans_per_s'])}"
        f" ({spans_only['us_per_span']} µs/span); {_load([load['before']], [load['after']])}"
    )
    out = []
    for config, label in (
        ("map_encode", "Mapping + encoding, records → OTLP bytes (one core)"),
        ("map_redact_encode", "Mapping + redaction + encoding (one core)"),
    ):
        rate, ratio = mapping[config]["spans_per_s"], ratios["same_work_items"][config]
        figure = (
            f"{_rate(rate)}, {mapping[config]['items_per_s'] / 1000:,.1f}k items/s ({ratio:g}x official on the same"
            f" items; {ratios['spans_only'][config]:g}x the spans-only encoder, unequal work)"
        )
        goal = f"≥ {_rate(goal_rate)} and ≥ {goal_ratio:g}x"
        out.append((label, figure, goal, baseline, _met(ratio >= goal_ratio and rate >= goal_rate)))
    rate, ratio = mapping["encode_only"]["spans_per_s"], ratios["spans_only"]["encode_only"]
    label = "Span encoding alone, `encode_spans` (one core)"
    figure = f"{_rate(rate)} ({ratio:g}x official `encode_spans`)"
    return [*out, (label, figure, f"≥ {goal_ratio:g}x", baseline, _met(ratio >= goal_ratio))]


def _own_result(name: str) -> dict[str, Any] | None:
    """A result its own benchmark wrote (not run by ``make bench``: ``bench_ingest --split``, ``bench_soak``)."""
    path = RESULTS_DIR / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _load(before: list[float], after: list[float]) -> str:
    return f"load average {before[0]:g} → {after[0]:g}"


def collector_rows(split: dict[str, Any] | None, soak: dict[str, Any] | None) -> list[tuple[str, str, str, str, str]]:
    """Collector ingest of Hive's spans beside a plain chDB insert, its time split, and the soak."""
    out = []
    if split:
        ours, plain = split["end_to_end"], split["baseline_plain_jsoneachrow"]
        ratio = split["ratio_ours_over_baseline_per_core"]
        load = _load(split["load_average_before"], split["load_average_after"])
        rounds = split.get("unmerged_every_round", [])
        every = ", ".join(f"{r['ratio_per_core']:g}" for r in rounds)
        median_of = f"; median of {len(rounds)} alternating rounds: {every}" if rounds else ""
        out.append((
            f"Collector end to end, {split['spans']:,} Hive spans as the client encodes them, OTLP/HTTP gzip, "
            f"{ours['clients']} senders (whole process, exact usage)",
            f"{_rate(ours['spans_per_s_per_core'])} per core ({ratio:g}x the plain insert{median_of}); "
            f"ack p50 {ours['ack_latency_ms_p50']:g} ms, p99 {ours['ack_latency_ms_p99']:g} ms",
            "≥ 1x the plain insert and ≥ 100k spans/s per core",
            f"chDB JSONEachRow into one MergeTree table, no views: {_rate(plain['spans_per_s_per_core'])} per core; {load}",
            _met(ratio >= 1 and ours["spans_per_s_per_core"] >= 100_000),
        ))  # fmt: skip
        if merged := split.get("end_to_end_merged_as_queued"):
            plain_merged = split["baseline_plain_jsoneachrow_merged_batches"]
            ratio_merged = split["ratio_merged_over_baseline_merged_per_core"]
            every_merged = ", ".join(f"{r['ratio_per_core']:g}" for r in split.get("merged_as_queued_every_round", []))
            rounds_merged = f"; rounds: {every_merged}" if every_merged else ""
            out.append((
                f"The same, as the client's sender delivers a backlog ({split['merged_requests']} merged requests "
                f"of ≤ 4 MiB), {merged['clients']} senders",
                f"{_rate(merged['spans_per_s_per_core'])} per core ({ratio_merged:g}x the plain insert of the same "
                f"batches{rounds_merged}); ack p50 {merged['ack_latency_ms_p50']:g} ms, "
                f"p99 {merged['ack_latency_ms_p99']:g} ms",
                "≥ 1x the plain insert and ≥ 100k spans/s per core",
                f"chDB JSONEachRow, the same merged batches: {_rate(plain_merged['spans_per_s_per_core'])} per core",
                _met(ratio_merged >= 1 and merged["spans_per_s_per_core"] >= 100_000),
            ))  # fmt: skip
        if stages := split.get("stages_in_store_merged_batches"):
            out.append(stage_row(stages))
        if sizes := split.get("insert_sizes"):
            out.append(insert_size_row(sizes))
        if (views := split.get("views")) and "analysis_cpu_ms_per_insert" in views:
            out.append(view_row(views))
        if ceiling := split.get("write_once_ceiling"):
            out.append(ceiling_row(ceiling))
        parts = split["split_one_request_at_a_time"]["parts_share"]
        top = "; ".join(f"{name} {share:.0%}" for name, share in list(parts.items())[:6])
        out.append(("Where the collector's time goes (one request at a time)", top, "—", load, "—"))
    if soak:
        rss, lat = soak["rss_mb"], soak["ack_latency_ms"]
        samples = soak["samples"]
        later = [s["collector_rss_mb"] for s in samples[len(samples) // 4 :]]  # after the first quarter: warm
        out.append((
            f"Soak: {soak['feeding_s'] / 60:.0f} min at {soak['rate_records_per_s']} Hive records/s, client (outbox + "
            "sender + exporter) → collector process",
            f"collector RSS {rss['collector_start']:g} → {rss['collector_end']:g} MB (after the first quarter "
            f"{min(later):g} to {max(later):g}), client {rss['client_start']:g} → {rss['client_end']:g} MB; ack p50 "
            f"{lat['p50']:g} ms, p99 {lat['p99']:g} ms; outbox ≤ {soak['outbox_requests_max']} requests",
            "flat RSS, outbox drains",
            f"load average {soak['load_average_1min'].get('start', '?')} (max {soak['load_average_1min'].get('max', '?')})",
            "—",
        ))  # fmt: skip
    return out


def server_store_row(server: dict[str, Any]) -> tuple[str, str, str, str, str]:
    """Our collector with the store in another process: each process's CPU (bench/bench_server_store.py)."""
    median = server["median_round_by_collector_cpu"]
    ours, plain = median["ours"], median["plain"]
    every = ", ".join(_rate(r["ours"]["collector_spans_per_s_per_core"]) for r in server["every_round"])
    logs = server["logs_median_round_by_collector_cpu"]
    return (
        f"Collector end to end with ClickHouse in another process ({server['spans']:,} of Hive's spans, "
        f"{server['requests']} requests, {server['clients']} senders, OTLP/HTTP; the store: chDB behind "
        f"ClickHouse's HTTP interface), {server['rounds']} rounds, the median shown",
        f"collector process {_rate(ours['collector_spans_per_s_per_core'])} per core (rounds: {every}); "
        f"store process {_rate(ours['store_spans_per_s_per_core'])} per core "
        f"({median['store_ratio_ours_over_plain']:g}x the plain insert's); both "
        f"{_rate(ours['both_spans_per_s_per_core'])} per core; ack p50 {ours['ack_latency_ms_p50'] / 1000:.2f} s; "
        f"the workload's {server['log_records']:,} log records: collector process "
        f"{logs['collector_records_per_s_per_core'] / 1000:,.1f}k per second per core, store process "
        f"{logs['store_records_per_s_per_core'] / 1000:,.1f}k",
        "≥ 100k spans/s per core",
        f"the OpenTelemetry Collector's clickhouseexporter is published at ~137k spans/s per core (collector "
        f"process only); the plain JSONEachRow insert of the same spans over HTTP costs the store process "
        f"{_rate(plain['store_spans_per_s_per_core'])} per core; "
        f"{_load(server['load_average_before'], server['load_average_after'])}",
        _met(ours["collector_spans_per_s_per_core"] >= 100_000),
    )


def stage_row(stages: dict[str, Any]) -> tuple[str, str, str, str, str]:
    """The store alone (no HTTP) on the merged batches: its span path and its exact-usage path beside the plain insert."""
    median = stages["median_round"]
    span, usage, store, plain = median["span_path"], median["usage_path"], median["store"], median["plain"]
    every = ", ".join(f"{r['store']['ratio_per_core']:g}" for r in stages["every_round"])
    return (
        f"The store alone, no HTTP ({stages['inserts']} inserts of the merged batches), by stage",
        f"span path (ClickHouse parsing the protobuf + every span view, staging included) "
        f"{_rate(span['spans_per_s_per_core'])} per core ({span['ratio_per_core']:g}x); exact-usage path "
        f"(key index, merge, ledger, facts) {_rate(usage['spans_per_s_per_core'])} per core "
        f"({usage['ratio_per_core']:g}x); both {_rate(store['spans_per_s_per_core'])} per core "
        f"({store['ratio_per_core']:g}x; rounds: {every})",
        "—",
        f"the plain JSONEachRow insert of the same batches, alternating: {_rate(plain['spans_per_s_per_core'])} per core",
        "—",
    )


def insert_size_row(sizes: dict[str, Any]) -> tuple[str, str, str, str, str]:
    """The store alone at each insert size, beside the plain insert of the same merged batches."""
    figures = []
    for name, size in sizes.items():
        median = size["median_round"]
        figures.append(
            f"{name.split('_')[0]} spans per insert: {_rate(median['store']['spans_per_s_per_core'])} per core "
            f"({median['store']['ratio_per_core']:g}x; span path {median['span_path']['ratio_per_core']:g}x, "
            f"exact-usage path {median['usage_path']['ratio_per_core']:g}x)"
        )
    plain = ", ".join(_rate(size["median_round"]["plain"]["spans_per_s_per_core"]) for size in sizes.values())
    return (
        "The store alone by insert size (the same requests merged 1, 4, 13 and 26 to an insert)",
        "; ".join(figures),
        "—",
        f"the plain JSONEachRow insert of the same merged batches, alternating: {plain} per core",
        "—",
    )


def view_row(views: dict[str, Any]) -> tuple[str, str, str, str, str]:
    """Each span-path view's analysis time (paid per insert) and marginal cost per span (one insert)."""
    analysis = views["analysis_cpu_ms_per_insert"]
    top = ", ".join(f"`{name}` {ms:g} ms" for name, ms in list(analysis.items())[:4])
    marginal = ", ".join(f"`{name}` {us:g} µs" for name, us in list(views["marginal_us_per_span"].items())[:2])
    noise_us = views["noise_cpu_s"] * 1e6 / views["spans"]
    return (
        "The span-path views: query analysis per insert, and cost per span with everything under each",
        f"analysis {sum(analysis.values()):.0f} ms per insert in all ({top}); per span, "
        f"{views['spans']:,} spans in one insert: {marginal}",
        "—",
        f"all views {views['all_views_cpu_s']:g} s CPU, none {views['no_views_cpu_s']:g} s; "
        f"the reference's spread {noise_us:.1f} µs per span",
        "—",
    )


def ceiling_row(ceiling: dict[str, Any]) -> tuple[str, str, str, str, str]:
    """What writing each call once would save at ingest, and what settling those calls in bulk costs back."""

    def figure(name: str) -> str:
        one = ceiling[name]
        every = ", ".join(f"{r:g}" for r in one["every_round_ratio"])
        return f"{_rate(one['spans_per_s_per_core'])} per core ({one['ratio_per_core']:g}x; rounds {every})"

    floor = f" parsed and flattened only, nothing stored {figure('flattened_only')};" if "flattened_only" in ceiling else ""
    settled = ""
    if "write_once_then_settle" in ceiling:
        equal = "yes" if all(ceiling["settled_totals_equal_the_store_as_is"]) else "NO"
        settled = f"; that ingest + a bulk settle {figure('write_once_then_settle')}, totals equal: {equal}"
    return (
        f"A store that writes each call once ({ceiling['spans']:,} spans, one insert)",
        f"as it is {figure('store')};{floor} spans alone, no usage {figure('spans_only')}; spans + one view into "
        f"`usage_calls` {figure('spans_and_usage_calls_only')}{settled}",
        "—",
        "the plain JSONEachRow insert of the same spans as one batch, alternating",
        "—",
    )


def install_rows(install: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """The client profile's size beyond aden-hive and its import times (bench/bench_install.py)."""
    sizes, imports, goals = install["sizes"], install["imports"], install["goals"]
    top = ", ".join(f"{name} {mb:g}" for name, mb in list(sizes["client_beyond_aden_hive"].items())[:3])
    collector_top = ", ".join(f"{name} {mb:g}" for name, mb in list(sizes["collector_extra_adds"].items())[:3])
    beyond = sizes["client_beyond_aden_hive_mb"]
    rows = [
        (
            "`pip install hive-otel` (the client): site-packages beyond aden-hive",
            f"{beyond:g} MB ({top})",
            f"≤ {goals['client_beyond_aden_hive_mb']:g} MB",
            f"the client alone {sizes['client_alone_mb']:g} MB; aden-hive {sizes['aden_hive_mb']:g} MB; "
            f"`[collector]` adds {sizes['collector_extra_adds_mb']:g} MB ({collector_top})",
            _met(beyond <= goals["client_beyond_aden_hive_mb"]),
        )
    ]
    labels = {
        "import_hive_otel": "`import hive_otel`, fresh process (median)",
        "instrument_in_hive": "`import hive_otel` + `instrument()` in a process running Hive's runtime (median)",
    }
    worst = imports["instrument_bare_bus"]
    load = install.get("load_average_1min")
    busy = f"; load average {load['before']:g} → {load['after']:g} on the shared machine" if load else ""
    for name, label in labels.items():
        median = imports[name]["median_ms"]
        baseline = f"fastest {imports[name]['fastest_ms']:g} ms{busy}"
        if name == "instrument_in_hive":
            baseline += f"; with only the bus loaded {worst['median_ms']:g} ms (fastest {worst['fastest_ms']:g} ms)"
        rows.append((label, f"{median:g} ms", f"≤ {goals['import_ms']:g} ms", baseline, _met(median <= goals["import_ms"])))
    return rows


def table(results: dict[str, dict[str, Any]]) -> str:
    machine = next((r["machine"] for r in results.values() if "machine" in r), {})
    lines = [
        "# Benchmark results",
        "",
        "Written by `make bench` (`python -m bench.run_all`); how each is measured: [../README.md](../README.md).",
        f"Machine: {machine.get('cpu', '?')}, {machine.get('cores', '?')} cores, Python {machine.get('python', '?')}"
        f" ({machine.get('platform', '?')}). Baselines and ratios are from the same run as each figure.",
        "",
        "| Benchmark | Figure | Goal | Baseline (same run) | Met |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {' | '.join(row)} |" for row in rows(results)]
    others = sorted(p.name for p in RESULTS_DIR.glob("*.json") if p.stem not in BENCHES)
    if others:
        listed = ", ".join(f"`{o}`" for o in others)
        lines += ["", f"Other results in this folder (from their own benchmarks): {listed}."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run_all", description=__doc__.split("\n\n")[0])
    parser.add_argument("--skip-run", action="store_true", help="only rewrite the table from the existing JSON")
    args = parser.parse_args(argv)
    root = Path(__file__).resolve().parents[1]
    if not args.skip_run:
        for name, module in BENCHES.items():
            started = time.perf_counter()
            print(f"== {name}", file=sys.stderr, flush=True)
            subprocess.run([sys.executable, "-m", module], cwd=root, check=True, stdout=subprocess.DEVNULL)
            print(f"== {name}: {time.perf_counter() - started:.0f}s", file=sys.stderr, flush=True)
    results = {}
    for name in BENCHES:
        path = RESULTS_DIR / f"{name}.json"
        if path.exists():
            results[name] = json.loads(path.read_text())
    (RESULTS_DIR / "README.md").write_text(table(results))
    print(f"wrote {RESULTS_DIR / 'README.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
