"""Telemetry of a Gateway's Envoys, from its EnvoyProxy: access logs and tracing (the parts that shape xDS)."""

from __future__ import annotations

from typing import Literal

from projections.ir.base import IRStruct


class FileAccessLog(IRStruct, frozen=True, kw_only=True):
    """One file access log: `text` (a format string) or `json` (field -> command operator), never both."""

    path: str
    text: str | None = None
    json: tuple[tuple[str, str], ...] = ()  # sorted by field


class Tracing(IRStruct, frozen=True, kw_only=True):
    """Tracing to a collector reached through the cluster `cluster` (`host`:`port`, resolved by DNS)."""

    provider: Literal["OpenTelemetry", "Zipkin"]
    cluster: str
    host: str
    port: int
    sampling_rate: float  # percent
    service_name: str


class Telemetry(IRStruct, frozen=True, kw_only=True):
    access_logs: tuple[FileAccessLog, ...] = ()
    tracing: Tracing | None = None
