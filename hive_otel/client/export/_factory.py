"""Pick the exporter the settings ask for."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from hive_otel import environment_variables as ev
from hive_otel.client.export._http import OtlpHttpExporter
from hive_otel.client.export._result import Exporter
from hive_otel.settings import ClientSettings

if TYPE_CHECKING:
    from hive_otel.client.export._grpc import OtlpGrpcExporter

_log = logging.getLogger(__name__)


def create_exporter(settings: ClientSettings) -> Exporter:
    """An OTLP/HTTP or OTLP/gRPC exporter by ``settings.protocol``, for ``settings.endpoint``.

    Raises ValueError when the settings do not allow exporting (no endpoint, or the SDK disabled),
    so nothing opens a socket unless the user opted in.
    """
    if not settings.endpoint:
        raise ValueError(f"{ev.HIVE_OTEL_ENDPOINT} is not set: there is nowhere to export to")
    if settings.disabled:
        raise ValueError(f"{ev.OTEL_SDK_DISABLED}=true: exporting is turned off")
    exporter_class: type[OtlpHttpExporter | OtlpGrpcExporter]
    if settings.protocol == "grpc":
        from hive_otel.client.export._grpc import (
            OtlpGrpcExporter,  # imported only when asked for: see hive_otel.client.export
        )

        exporter_class = OtlpGrpcExporter
    elif settings.protocol == "http/protobuf":
        exporter_class = OtlpHttpExporter
    else:
        raise ValueError(f"{ev.OTEL_EXPORTER_OTLP_PROTOCOL}: unsupported protocol {settings.protocol!r}")
    if settings.tls is not None and urlparse(settings.endpoint).scheme != "https":
        # As in the OpenTelemetry exporters, the files do not turn TLS on: the scheme alone decides.
        _log.warning(
            "hive-otel: %s is %s, not https://, so the files of %s are not used: exports are sent unencrypted",
            ev.HIVE_OTEL_ENDPOINT, settings.endpoint, ", ".join(settings.tls.by_variable()),
        )  # fmt: skip
    return exporter_class(
        settings.endpoint,
        headers=settings.headers,
        compression=settings.compression,
        timeout_s=settings.timeout_ms / 1000,
        tls=settings.tls,
    )

