"""Bounded, seeded fuzzing of the OTLP receivers against the real collector on chDB.

Mutated OTLP bodies (protobuf, JSON, gzip) over HTTP and protobuf over gRPC, each followed by a good
request of another tenant whose usage totals, counted here as the requests are built, must stay
exact. No mutated body may get a 5xx (a 503 would make a client retry a body that can never be
stored), and the collector must keep answering. Seeded: a failure reproduces with its seed.
"""

from __future__ import annotations

import gzip
import http.client
import random
from collections.abc import Iterator

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from hive_otel.collector.queries.usage import usage
from hive_otel.collector.service import Collector
from hive_otel.collector.store.store import Store
from tests.collector.otlp_builders import LlmCall, Session, SessionBatch, ToolCall, traces_request
from tests.collector.otlp_json import otlp_json

SEED = 20261206
ROUNDS = 20  # per encoding; each round is one mutated request and one good one
FUZZ_TENANT = "fuzz-target"
PERMANENT_HTTP = {200, 400, 413, 415}
PERMANENT_GRPC = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED}


def _template(rng: random.Random) -> trace_service_pb2.ExportTraceServiceRequest:
    session = Session(f"fz-{rng.randrange(1 << 30)}", "fz-root")
    spans = [LlmCall(f"fz:{rng.randrange(1 << 40)}", model=rng.choice(["gpt-4o", "claude-sonnet-4-5"]),
                     input_tokens=rng.randrange(1, 5000), output_tokens=rng.randrange(0, 500),
                     cost_usd=rng.choice([0.0, 0.01, 1.5]), span_id=rng.randbytes(8)).span()
             for _ in range(rng.randrange(1, 6))]  # fmt: skip
    spans.append(ToolCall(f"fz-tool:{rng.randrange(1 << 40)}", is_error=rng.random() < 0.5).span())
    return traces_request([SessionBatch(session, spans)])


def _mutate(data: bytes, rng: random.Random) -> bytes:
    """Flips, inserts, deletes, duplicates or truncates a few bytes."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        where = rng.randrange(max(len(out), 1))
        kind = rng.randrange(5)
        if kind == 0 and out:
            out[where % len(out)] = rng.randrange(256)
        elif kind == 1:
            out[where:where] = rng.randbytes(rng.randint(1, 8))
        elif kind == 2:
            del out[where : where + rng.randint(1, 8)]
        elif kind == 3:
            out[where:where] = out[where : where + rng.randint(1, 32)]
        else:
            del out[where:]
    return bytes(out)


def _json_mutation(rng: random.Random) -> bytes:
    text = otlp_json(_template(rng)).decode()
    swaps = ['"-5"', '"1e308"', '"NaN"', "null", "[]", "{}", '"\\u0000"', '"' + "x" * 300 + '"', "1e999", "-1"]
    pieces = text.split(":")
    for _ in range(rng.randint(1, 4)):
        index = rng.randrange(1, len(pieces))
        if "," in pieces[index]:  # the value before the next key becomes an odd one
            pieces[index] = rng.choice(swaps) + pieces[index][pieces[index].find(",") :]
    mutated = ":".join(pieces).encode()
    return _mutate(mutated, rng) if rng.random() < 0.5 else mutated


@pytest.fixture(scope="module")
def collector(store: Store) -> Iterator[Collector]:
    with Collector(store, "127.0.0.1:0", "127.0.0.1:0", shutdown_grace_s=1) as server:
        yield server


def _post(collector: Collector, body: bytes, headers: dict[str, str]) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", collector.ports.http, timeout=60)
    try:
        connection.request("POST", "/v1/traces", body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


class _Truth:
    """The good tenant's totals, counted as its requests are built."""

    def __init__(self, tenant: str) -> None:
        self.tenant, self.llm_calls, self.input_tokens, self.tool_calls = tenant, 0, 0, 0

    def good_request(self, rng: random.Random, round_: int) -> bytes:
        session = Session(f"{self.tenant}-{round_}", f"{self.tenant}-root")
        ids = [(round_ + 1).to_bytes(4, "big") + (i + 1).to_bytes(4, "big") for i in range(3)]
        calls = [LlmCall(f"{self.tenant}:{round_}:{i}", model="gpt-4o", input_tokens=rng.randrange(1, 1000), span_id=ids[i])
                 for i in range(3)]  # fmt: skip
        tool = ToolCall(f"{self.tenant}:{round_}:tool")
        self.llm_calls += len(calls)
        self.input_tokens += sum(c.input_tokens for c in calls)
        self.tool_calls += 1
        return traces_request([SessionBatch(session, [c.span() for c in calls] + [tool.span()])]).SerializeToString()

    def check(self, store: Store) -> None:
        totals = usage(store, ["model"], tenant=self.tenant).totals
        assert (totals["llm_calls"], totals["input_tokens"], totals["tool_calls"]) == (
            self.llm_calls, self.input_tokens, self.tool_calls)  # fmt: skip


def _send_good(collector: Collector, store: Store, truth: _Truth, rng: random.Random, round_: int) -> None:
    headers = {"Content-Type": "application/x-protobuf", "x-hive-tenant-id": truth.tenant}
    assert _post(collector, truth.good_request(rng, round_), headers) == 200
    truth.check(store)


@pytest.mark.parametrize("encoding", ["protobuf", "json", "gzip"])
def test_mutated_http_bodies_never_get_a_5xx_and_good_requests_stay_exact(
    collector: Collector, store: Store, encoding: str
) -> None:
    rng = random.Random(f"{SEED}-{encoding}")
    truth = _Truth(f"fuzz-good-http-{encoding}")
    for round_ in range(ROUNDS):
        headers = {"Content-Type": "application/x-protobuf", "x-hive-tenant-id": FUZZ_TENANT}
        if encoding == "json":
            body, headers["Content-Type"] = _json_mutation(rng), "application/json"
        else:
            body = _mutate(_template(rng).SerializeToString(), rng)
        if encoding == "gzip":
            body = gzip.compress(body) if rng.random() < 0.5 else _mutate(gzip.compress(body), rng)
            headers["Content-Encoding"] = "gzip"
        status = _post(collector, body, headers)
        assert status in PERMANENT_HTTP, (round_, status, body[:200])
        _send_good(collector, store, truth, rng, round_)


def test_mutated_grpc_bodies_never_get_unavailable_and_good_requests_stay_exact(
    collector: Collector, store: Store
) -> None:
    rng = random.Random(f"{SEED}-grpc")
    truth = _Truth("fuzz-good-grpc")
    with grpc.insecure_channel(collector.grpc_target) as channel:
        export = channel.unary_unary(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            request_serializer=lambda raw: raw,  # the mutated bytes go out as they are
            response_deserializer=trace_service_pb2.ExportTraceServiceResponse.FromString,
        )
        stub = trace_service_pb2_grpc.TraceServiceStub(channel)
        for round_ in range(ROUNDS):
            body = _mutate(_template(rng).SerializeToString(), rng)
            try:
                export(body, timeout=60, metadata=[("x-hive-tenant-id", FUZZ_TENANT)])
                code = grpc.StatusCode.OK
            except grpc.RpcError as exc:
                code = exc.code()
            assert code in PERMANENT_GRPC, (round_, code, body[:200])
            good = trace_service_pb2.ExportTraceServiceRequest.FromString(truth.good_request(rng, round_))
            stub.Export(good, timeout=60, metadata=[("x-hive-tenant-id", truth.tenant)])
            truth.check(store)
