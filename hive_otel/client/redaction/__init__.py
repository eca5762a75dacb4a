"""Private by default: the allowlist policy from collector/redaction.yaml, applied before export.

``RedactionPolicy.load(path)`` validates and compiles a policy (``None``: the packaged default);
``RedactionProcessor(policy).process(telemetry)`` returns the telemetry with everything the policy
does not allow removed or masked, and counts what it did.
"""

from hive_otel.client.redaction.processor import COUNTER_NAMES, RedactionProcessor
from hive_otel.policy import MASK, OptIn, PolicyError, RedactionPolicy

__all__ = ["COUNTER_NAMES", "MASK", "OptIn", "PolicyError", "RedactionPolicy", "RedactionProcessor"]
