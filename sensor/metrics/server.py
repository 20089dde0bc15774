"""The metrics endpoint: a registry of its own over the given collectors, served over HTTP."""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.registry import Collector

from sensor.errors import ConfigError

__all__ = ["parse_listen", "serve"]

log = logging.getLogger(__name__)


def parse_listen(text: str) -> tuple[str, int]:
    """`127.0.0.1:9108`, `[::1]:9108`, `:9108` -> (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"metrics.listen: expected host:port, got {text!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


def serve(collector: Collector, listen: str, *more: Collector) -> tuple[CollectorRegistry, int]:
    """Serve the collectors' registry on `listen`; returns the registry and the bound port."""
    registry = CollectorRegistry(auto_describe=True)
    for c in (collector, *more):
        registry.register(c)
    host, port = parse_listen(listen)
    try:
        server, _ = start_http_server(port, addr=host, registry=registry)
    except OSError as e:
        raise ConfigError(f"metrics.listen: cannot listen on {listen}: {e.strerror}") from None
    bound = int(server.server_address[1])
    log.info("metrics on http://%s:%d/metrics", host, bound)
    return registry, bound
