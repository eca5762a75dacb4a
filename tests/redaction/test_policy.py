"""The policy file: one source of truth, validated strictly, compiled once."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hive_otel import attributes
from hive_otel.client.redaction import PolicyError, RedactionPolicy

REPO = Path(__file__).resolve().parents[2]
POLICY_FILE = REPO / "collector" / "redaction.yaml"
PACKAGED_POLICY_FILE = REPO / "hive_otel" / "data" / "redaction.yaml"

# Attribute keys in hive_otel/attributes.py that carry content and must not leave by default.
PRIVATE_KEYS = {
    attributes.GEN_AI_TOOL_CALL_ARGUMENTS,
    attributes.GEN_AI_TOOL_CALL_RESULT,
    attributes.GEN_AI_OUTPUT_TEXT,
    attributes.HIVE_ERROR_MESSAGE,
    attributes.HIVE_FILE_PATH,
    attributes.HIVE_EVENT_DATA,
}
# Constants in attributes.py that are values or metric names, not attribute keys.
NOT_KEYS = ("METRIC_", "OP_", "COST_SOURCE_", "ROLE_", "SCHEMA_VERSION", "SEMCONV_")


def attribute_keys() -> set[str]:
    return {
        value
        for name, value in vars(attributes).items()
        if name.isupper() and isinstance(value, str) and not name.startswith(NOT_KEYS)
    }


def write_policy(tmp_path: Path, document: dict) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def base_document() -> dict:
    return {"allowed_keys": ["service.name"], "blocked_values": ["sk-[A-Za-z0-9]{8,}"]}


def test_packaged_copy_is_identical_to_the_policy_file() -> None:
    assert PACKAGED_POLICY_FILE.read_bytes() == POLICY_FILE.read_bytes(), (
        "hive_otel/data/redaction.yaml must be a copy of collector/redaction.yaml: "
        "cp collector/redaction.yaml hive_otel/data/redaction.yaml"
    )


def test_default_load_is_the_packaged_policy() -> None:
    assert RedactionPolicy.load(None) == RedactionPolicy.load(POLICY_FILE)


def test_every_attribute_key_is_classified_as_exported_or_private() -> None:
    policy = RedactionPolicy.load(POLICY_FILE)
    unclassified = attribute_keys() - policy.exported_keys - PRIVATE_KEYS
    assert not unclassified, (
        f"attribute keys {sorted(unclassified)} are neither in collector/redaction.yaml nor private: "
        "the fail-closed policy would silently drop them"
    )


def test_default_policy_keeps_private_keys_back_and_status_and_bodies_off() -> None:
    policy = RedactionPolicy.load(POLICY_FILE)
    assert not policy.exported_keys & PRIVATE_KEYS
    assert attributes.SERVICE_NAME in policy.exported_keys  # ClickHouse's ServiceName needs it
    assert policy.opt_in.allowed_keys == ()
    assert not policy.opt_in.status_messages
    assert not policy.opt_in.log_bodies
    assert policy.summary == "silent"


@pytest.mark.parametrize(
    "secret",
    [
        "sk-ant-api03-abcdefghijklmnopqrstuvwxyz",
        "sk-proj-ABCDEFGHIJKLMNOPQRST1234",
        "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        "AKIAIOSFODNN7EXAMPLE",
        "Bearer abcdef0123456789",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl",
        "alice@example.com",
        "/home/alice/project/secret.txt",
        "/Users/alice/Documents/plan.md",
        r"C:\Users\alice\notes.txt",
        "file:///etc/passwd",
        "https://bob:hunter2@db.internal/x",
        "api_key=abc123",
        "-----BEGIN RSA PRIVATE KEY-----",
    ],
)
def test_default_blocked_values_catch_common_secrets(secret: str) -> None:
    pattern = RedactionPolicy.load(POLICY_FILE).blocked_pattern
    assert pattern is not None and pattern.search(f"prefix {secret} suffix")


@pytest.mark.parametrize(
    "harmless",
    ["chat claude-sonnet-4-5", "execute_tool web_search", "gpt-4o-mini", "end_turn", "max_tokens",
     "session_20250101_120000_abc123", "openrouter/anthropic/claude-3.5", "independent", "runtime"],
)
def test_default_blocked_values_leave_ids_models_and_status_alone(harmless: str) -> None:
    pattern = RedactionPolicy.load(POLICY_FILE).blocked_pattern
    assert pattern is not None and not pattern.search(harmless)


def test_unknown_top_level_key_is_an_error_naming_it(tmp_path: Path) -> None:
    document = base_document() | {"allowed_kyes": ["x"]}
    with pytest.raises(PolicyError, match=r"unknown key 'allowed_kyes'"):
        RedactionPolicy.load(write_policy(tmp_path, document))


def test_unknown_opt_in_key_is_an_error_naming_it(tmp_path: Path) -> None:
    document = base_document() | {"opt_in": {"log_body": True}}
    with pytest.raises(PolicyError, match=r"unknown key 'opt_in.log_body'"):
        RedactionPolicy.load(write_policy(tmp_path, document))


def test_invalid_regex_refuses_to_load(tmp_path: Path) -> None:
    document = base_document() | {"blocked_values": ["sk-[A-Z"]}
    with pytest.raises(PolicyError, match=r"blocked_values.*'sk-\[A-Z' is not a valid RE2 regular expression"):
        RedactionPolicy.load(write_policy(tmp_path, document))


@pytest.mark.parametrize(
    ("pattern", "complaint"),
    [
        ("secret(?=x)", "invalid perl operator"),
        ("(?<!a)b", "invalid perl operator"),
        (r"(a)\1", "invalid escape sequence"),
        (r"end\Z", "invalid escape sequence"),
    ],
)
def test_patterns_only_python_re_accepts_are_refused(tmp_path: Path, pattern: str, complaint: str) -> None:
    document = base_document() | {"blocked_values": [pattern]}
    with pytest.raises(PolicyError, match=complaint):
        RedactionPolicy.load(write_policy(tmp_path, document))


def test_escaped_parenthesis_is_not_mistaken_for_a_group(tmp_path: Path) -> None:
    document = base_document() | {"blocked_values": [r"\(?=literal"]}
    assert RedactionPolicy.load(write_policy(tmp_path, document)).blocked_values == (r"\(?=literal",)


def test_wrong_types_and_missing_allowlist_are_errors(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"allowed_keys: Field required"):
        RedactionPolicy.load(write_policy(tmp_path, {"blocked_values": []}))
    with pytest.raises(PolicyError, match=r"summary: Input should be 'silent', 'info' or 'debug'"):
        RedactionPolicy.load(write_policy(tmp_path, base_document() | {"summary": "loud"}))
    with pytest.raises(PolicyError, match=r"allowed_keys.0: Input should be a valid string"):
        RedactionPolicy.load(write_policy(tmp_path, {"allowed_keys": [7]}))


def test_unreadable_and_malformed_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"cannot read it"):
        RedactionPolicy.load(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("allowed_keys: [unclosed\n")
    with pytest.raises(PolicyError, match=r"not valid YAML"):
        RedactionPolicy.load(broken)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("just a string\n")
    with pytest.raises(PolicyError, match=r"expected a mapping"):
        RedactionPolicy.load(scalar)


def test_opt_in_and_ignored_keys_are_exported(tmp_path: Path) -> None:
    document = base_document() | {
        "ignored_keys": ["hive.user.id"],
        "opt_in": {"allowed_keys": [attributes.HIVE_ERROR_MESSAGE]},
    }
    policy = RedactionPolicy.load(write_policy(tmp_path, document))
    assert policy.exported_keys == {"service.name", "hive.user.id", attributes.HIVE_ERROR_MESSAGE}
    assert policy.unmasked_keys == {"hive.user.id"}


def test_patterns_are_compiled_once() -> None:
    policy = RedactionPolicy.load(POLICY_FILE)
    assert policy.blocked_pattern is policy.blocked_pattern
