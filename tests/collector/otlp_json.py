"""OTLP/JSON request bodies as the specification writes them, for the receiver tests."""

from __future__ import annotations

import base64
import json

from google.protobuf import json_format
from google.protobuf.message import Message


def otlp_json(message: Message) -> bytes:
    """OTLP/JSON as the specification writes it: lowerCamelCase, hex ids, enums as integers."""
    document = json_format.MessageToDict(message, use_integers_for_enums=True)

    def hexify(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("traceId", "spanId", "parentSpanId"):
                    node[key] = base64.b64decode(value).hex()
                else:
                    hexify(value)
        elif isinstance(node, list):
            for item in node:
                hexify(item)

    hexify(document)
    return json.dumps(document).encode()
