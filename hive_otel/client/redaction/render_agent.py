"""Render the policy's processors into collector/agent.yaml, so the agent enforces the same file.

``python -m hive_otel.client.redaction.render_agent`` rewrites the block between the BEGIN/END markers in
collector/agent.yaml from collector/redaction.yaml; ``--check`` only reports whether the block is
current (exit 1 when it drifted), which is what the test suite runs.

The block holds two processors:
- ``redaction/policy``: the Collector's redaction processor with ``allow_all_keys: false``, the
  allowlist (defaults plus opt-ins), ``ignored_keys``, ``blocked_values`` and ``summary``; it covers
  resource, scope, span, span-event, log and metric data-point attributes and log bodies;
- ``transform/policy``: what redaction does not reach: blocked values in span names and log event
  names, and emptying status messages and log bodies unless the policy opts in.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from hive_otel.policy import MASK, PolicyError, RedactionPolicy

BEGIN_MARKER = "  # BEGIN generated from collector/redaction.yaml by `python -m hive_otel.client.redaction.render_agent`"
END_MARKER = "  # END generated from collector/redaction.yaml"
REDACTION_PROCESSOR = "redaction/policy"
TRANSFORM_PROCESSOR = "transform/policy"


def _ottl_string(text: str) -> str:
    # OTTL string literals are unquoted with Go's string-literal rules; JSON's escapes are a subset.
    return json.dumps(text, ensure_ascii=False)


def _escape_expansion(value: Any) -> Any:
    # The Collector expands ${...} in every config string; "$$" is its escape for a literal "$".
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, list):
        return [_escape_expansion(item) for item in value]
    if isinstance(value, dict):
        return {key: _escape_expansion(item) for key, item in value.items()}
    return value


def policy_processors(policy: RedactionPolicy) -> dict[str, Any]:
    """The two processor configurations that make the agent enforce ``policy``."""
    combined = "|".join(f"(?:{pattern})" for pattern in policy.blocked_values)

    def mask(path: str) -> str:
        return f"replace_pattern({path}, {_ottl_string(combined)}, {_ottl_string(MASK)})"

    span_statements = []
    log_statements = []
    if combined:
        span_statements.append(mask("span.name"))
        log_statements.append(mask("log.event_name"))
    if policy.opt_in.status_messages:
        if combined:
            span_statements.append(mask("span.status.message"))
    else:
        span_statements.append('set(span.status.message, "")')
    if not policy.opt_in.log_bodies:
        # Kept bodies need no statement: the redaction processor masks blocked values in bodies.
        log_statements.append("set(log.body, nil)")

    redaction = {
        "allow_all_keys": False,
        "allowed_keys": list(dict.fromkeys(policy.allowed_keys + policy.opt_in.allowed_keys)),
        "ignored_keys": list(policy.ignored_keys),
        "blocked_values": list(policy.blocked_values),
        "summary": policy.summary,
    }
    transform = {
        # A statement that fails drops the batch rather than letting it through unredacted.
        "error_mode": "propagate",
        "trace_statements": [{"context": "span", "statements": span_statements}],
        "log_statements": [{"context": "log", "statements": log_statements}],
    }
    return _escape_expansion({REDACTION_PROCESSOR: redaction, TRANSFORM_PROCESSOR: transform})


def render_block(policy: RedactionPolicy) -> str:
    """The generated block, markers included, indented to sit under ``processors:``."""
    body = yaml.safe_dump(policy_processors(policy), sort_keys=False, width=1_000_000, allow_unicode=True)
    indented = "".join(f"  {line}\n" for line in body.splitlines())
    return f"{BEGIN_MARKER}\n{indented}{END_MARKER}\n"


def render_agent(policy: RedactionPolicy, agent_text: str) -> str:
    """``agent_text`` with its generated block replaced by the one ``policy`` renders to."""
    start = agent_text.find(BEGIN_MARKER)
    end = agent_text.find(END_MARKER)
    if start < 0 or end < start:
        raise ValueError(f"agent config has no generated block: expected the lines\n{BEGIN_MARKER}\n{END_MARKER}")
    end = agent_text.index("\n", end) + 1
    return agent_text[:start] + render_block(policy) + agent_text[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hive_otel.client.redaction.render_agent", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--policy", type=Path, default=Path("collector/redaction.yaml"))
    parser.add_argument("--agent", type=Path, default=Path("collector/agent.yaml"))
    parser.add_argument("--check", action="store_true", help="exit 1 if the agent config is out of date")
    args = parser.parse_args(argv)
    try:
        policy = RedactionPolicy.load(args.policy)
        current = args.agent.read_text(encoding="utf-8")
        rendered = render_agent(policy, current)
    except (PolicyError, OSError, ValueError) as error:
        print(f"render_agent: {error}", file=sys.stderr)
        return 2
    if rendered == current:
        return 0
    if args.check:
        print(f"{args.agent} is out of date with {args.policy}: run python -m hive_otel.client.redaction.render_agent",
              file=sys.stderr)
        return 1
    args.agent.write_text(rendered, encoding="utf-8")
    print(f"updated {args.agent} from {args.policy}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
