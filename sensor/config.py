"""Site configuration: frozen dataclasses built from YAML, errors with file:line and key.

This is the only module that reads the YAML config. The loader walks PyYAML's node tree so
every error names where it is (`/etc/sensor/sensor.yaml:12: flow.timeouts.tcp: ...`), and the
sensor refuses to start on any error rather than guess.
"""

from __future__ import annotations

import dataclasses
import math
import socket
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sensor.classify import PolicyConfig, SignaturesConfig
from sensor.datafile import SAFE, not_utf8, yaml_error
from sensor.endpoints import TRANSPORTS, parse_address
from sensor.errors import ConfigError
from sensor.flow.table import FlowTimeouts

__all__ = [
    "FlowConfig",
    "IpfixConfig",
    "LimitsConfig",
    "OutputsConfig",
    "SensorConfig",
    "SensorInfo",
    "ShipConfig",
    "StorageConfig",
    "SyslogConfig",
    "build",
    "load_config",
]


@dataclass(frozen=True, slots=True)
class SensorInfo:
    """Who this sensor is, as it appears in records and metrics."""

    name: str = field(default_factory=socket.gethostname)
    site: str = "default"


@dataclass(frozen=True, slots=True)
class FlowConfig:
    """Flow table limits and timeouts."""

    timeouts: FlowTimeouts = field(default_factory=FlowTimeouts)
    max_flows: int = 500_000

    def __post_init__(self) -> None:
        if self.max_flows < 1:
            raise ValueError("max_flows must be at least 1")


@dataclass(frozen=True, slots=True)
class InspectConfig:
    """App-layer inspection limits."""

    max_packets: int = 16
    """Payload packets looked at per direction of a flow; after that the flow only counts."""
    dns_names: int = 200_000
    """Entries of the DNS answer cache that names IP-only flows."""
    dns_min_seconds: float = 60.0
    """An answer names its client's flows to the address for at least this long, whatever
    its TTL: programs connect right after a TTL-0 answer, and nDPI's cache keeps 60 s too."""
    hold_mb: float | None = None
    """Out-of-order TCP segments held for reassembly, all flows together, in MB; past it,
    segments are not held (counted: sensor_inspect_hold_refused_total). Unset: the `holds`
    share of limits.memory_mb (64 MB of the default 512); set, it never exceeds that share."""

    def __post_init__(self) -> None:
        if self.max_packets < 1 or self.dns_names < 0 or self.dns_min_seconds < 0:
            raise ValueError(
                "max_packets must be at least 1, dns_names and dns_min_seconds not negative"
            )
        if self.hold_mb is not None and not 0 <= self.hold_mb < 1 << 20:
            raise ValueError("hold_mb must be between 0 and 1048576")


@dataclass(frozen=True, slots=True)
class LimitsConfig:
    """The sensor's one memory budget (sensor/budget.py splits it into shares)."""

    memory_mb: float = 512.0
    """MB for everything held per flow and per device, per sensor (divided among capture
    workers): flow table, records waiting for their segment, held TCP segments, TLS/QUIC
    handshake buffers, DNS answer cache, access point tables. Not included: the interpreter
    and libraries (about 190 MB) and the kernel's capture ring. 512 fits a 2-4 GB box."""

    def __post_init__(self) -> None:
        if not 8 <= self.memory_mb < 1 << 20:
            raise ValueError("memory_mb must be between 8 and 1048576")


@dataclass(frozen=True, slots=True)
class RetentionConfig:
    """How long segments are kept, applied hourly without stopping the sensor."""

    flows_days: int = 400
    alerts_days: int = 400
    rollups_days: int = 2000
    max_disk_gb: float = 0.0
    """Bound on this sensor's segment tree; past it the oldest days of raw flows (then
    alerts) are deleted first. 0: no bound."""

    def __post_init__(self) -> None:
        if min(self.flows_days, self.alerts_days, self.rollups_days) < 0 or self.max_disk_gb < 0:
            raise ValueError("retention days and max_disk_gb must not be negative")


@dataclass(frozen=True, slots=True)
class ShipConfig:
    """Shipping closed segments to a central store (`sensor ship`, or driven by `sensor run`)."""

    destination: str = ""
    """A directory (`/srv/fleet`, an NFS or SMB mount) or `ssh://[user@]host[:port]/path`;
    "" turns shipping off."""
    interval_seconds: float = 60.0
    """How often `sensor run` ships (a systemd timer can run `sensor ship` instead)."""
    ssh_options: tuple[str, ...] = ()
    """Extra `ssh` arguments, e.g. `[-i, /etc/sensor/ship_key, -o, UserKnownHostsFile=...]`."""
    timeout_seconds: float = 600.0
    """Longest one segment's transfer may take before it counts as a cut connection."""

    def __post_init__(self) -> None:
        if self.interval_seconds <= 0 or self.timeout_seconds <= 0:
            raise ValueError("interval_seconds and timeout_seconds must be positive")


@dataclass(frozen=True, slots=True)
class StorageConfig:
    """Where flow records go; see docs/storage.md for the layout."""

    catalog: Path = Path("sensor.duckdb")
    data_dir: Path | None = None
    flush_rows: int = 20_000
    """Records waiting before a segment is written, whatever the time. A record waits as a
    Python object (about 3 kB, building the segment included) until `flush_seconds` pass,
    then in Arrow form (a tenth of that); 20,000 keeps a worker near 230 MB on any capture
    length, and a segment of 20,000 records is about 1 MB of Parquet, large enough to read
    efficiently. Lower: less memory, more and smaller files (a live sensor's compaction
    merges a past day's small segments); higher, the reverse: 200,000 records are about
    11 MB of Parquet and up to 600 MB more memory on a dense capture."""
    flush_seconds: float = 30.0
    """Counted in packet time and in wall time, whichever passes first: records leave the
    Python buffer (to Arrow, the EVE flow lines, IPFIX and the rollups) every interval, so a
    replay's memory is bounded by the flows in flight, not by the capture's length. Segments
    are written every `flush_rows` records or `flush_seconds` of wall time: live, a record
    reaches the views within `flush_seconds` of its flow's end; a replay of a sparse capture
    still writes few, large segments."""
    max_buffered_rows: int = 2_000_000
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    ship: ShipConfig = field(default_factory=ShipConfig)
    adopt: bool = False
    """Add the sensor's views to an existing DuckDB database it did not create, keeping
    that database's own tables (what `--force` does). Off: such a file is refused."""

    def __post_init__(self) -> None:
        if self.flush_rows < 1:
            raise ValueError("flush_rows must be at least 1")
        if self.flush_seconds < 0:
            raise ValueError("flush_seconds must not be negative")
        if self.max_buffered_rows < 0:
            raise ValueError("max_buffered_rows must not be negative")


@dataclass(frozen=True, slots=True)
class CaptureConfig:
    """Live capture (`sensor run`); command-line options override these."""

    interface: str = ""
    workers: int = 1
    """Capture processes joined by PACKET_FANOUT (flow hash): about one per free core."""
    bpf: str = ""
    """Capture filter in tcpdump syntax, applied in the kernel."""
    snaplen: int = 65535
    promiscuous: bool = True
    ring_blocks: int = 64
    """4 MiB blocks of each worker's TPACKET_V3 ring (64: 256 MiB per worker)."""

    def __post_init__(self) -> None:
        if not 1 <= self.workers <= 64 or self.snaplen < 64 or self.ring_blocks < 2:
            raise ValueError("workers 1-64, snaplen at least 64, ring_blocks at least 2")


@dataclass(frozen=True, slots=True)
class MetricsConfig:
    """The Prometheus endpoint (`sensor run`; `sensor replay --metrics` for tests)."""

    listen: str = "127.0.0.1:9108"
    """host:port to serve /metrics on; "" turns it off. Loopback by default: put a reverse
    proxy or a firewall rule in front before exposing it."""


@dataclass(frozen=True, slots=True)
class SyslogConfig:
    """Alerts to a syslog receiver as RFC 5424 messages (EVE JSON as MSG); off by default."""

    address: str = ""
    """host:port (udp, tcp) or a socket path (unix); "" turns it off."""
    transport: str = "udp"
    """udp (RFC 5426), tcp (RFC 6587 octet counting) or unix (a datagram socket like /dev/log)."""
    facility: str = "local5"
    app_name: str = "policy-sensor"
    max_queue: int = 10_000
    """Messages waiting for the sender thread; beyond it alerts are dropped and counted."""

    def __post_init__(self) -> None:
        if self.address:
            parse_address(self.address, self.transport)
        elif self.transport not in TRANSPORTS:
            raise ValueError(f"transport must be one of {', '.join(TRANSPORTS)}")
        if self.max_queue < 1:
            raise ValueError("max_queue must be at least 1")


@dataclass(frozen=True, slots=True)
class IpfixConfig:
    """Flow records to an IPFIX (RFC 7011) collector; off by default. See docs/ipfix.md."""

    address: str = ""
    """host:port of the collector; "" turns it off."""
    transport: str = "udp"
    """udp or tcp."""
    enterprise_number: int = 32473
    """Private Enterprise Number of the policy elements (32473: documentation, RFC 5612)."""
    observation_domain: int = 0
    template_seconds: float = 60.0
    """UDP: templates are re-sent this often (and before the first data)."""
    max_message: int = 1400
    """Largest message in bytes (UDP: keep below the path MTU)."""
    max_queue: int = 100_000
    protocol: int = 10
    """10: IPFIX; 9: NetFlow v9 for older collectors (UDP only, standard elements only)."""

    def __post_init__(self) -> None:
        if self.transport not in ("udp", "tcp"):
            raise ValueError("transport must be udp or tcp")
        if self.protocol not in (9, 10) or (self.protocol == 9 and self.transport != "udp"):
            raise ValueError("protocol must be 10 (IPFIX) or 9 (NetFlow v9, over udp)")
        if self.address:
            parse_address(self.address, self.transport)
        if not 256 <= self.max_message <= 65535 or self.template_seconds <= 0:
            raise ValueError("max_message 256-65535; template_seconds above 0")


@dataclass(frozen=True, slots=True)
class OutputsConfig:
    """Copies of alerts and flow records for the tools the site already runs."""

    eve_flows: str = ""
    """File for EVE `flow` events (JSON lines); "" for none."""
    syslog: SyslogConfig = field(default_factory=SyslogConfig)
    ipfix: IpfixConfig = field(default_factory=IpfixConfig)


@dataclass(frozen=True, slots=True)
class SensorConfig:
    """The whole configuration file."""

    sensor: SensorInfo = field(default_factory=SensorInfo)
    flow: FlowConfig = field(default_factory=FlowConfig)
    inspect: InspectConfig = field(default_factory=InspectConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    signatures: SignaturesConfig = field(default_factory=SignaturesConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    capture: CaptureConfig = field(default_factory=CaptureConfig)
    outputs: OutputsConfig = field(default_factory=OutputsConfig)


def load_config(path: str | Path | None) -> SensorConfig:
    """Read and validate a config file; None gives the built-in defaults."""
    if path is None:
        return SensorConfig()
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise ConfigError(f"{p}: cannot read: {e.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(not_utf8(p, e)) from None
    if len(raw) > _MAX_CONFIG_BYTES:
        raise ConfigError(f"{p}: {len(raw):,} bytes; a site config is at most 4 MB") from None
    try:
        node = SAFE.compose(text)
    except yaml.YAMLError as e:
        raise ConfigError(yaml_error(p, e)) from None
    except RecursionError:
        raise ConfigError(f"{p}: invalid YAML: nested too deeply") from None
    if node is None:
        return SensorConfig()
    return build(SensorConfig, node, str(p), "")


_MAX_CONFIG_BYTES = 4 << 20


def _err(file: str, node: yaml.Node, key: str, msg: str) -> ConfigError:
    return ConfigError(f"{file}:{node.start_mark.line + 1}: {key or '(top level)'}: {msg}")


T = typing.TypeVar("T")


def build(cls: type[T], node: yaml.Node, file: str, prefix: str) -> T:
    """Build dataclass `cls` from a YAML mapping node, checking keys and value types."""
    if not isinstance(node, yaml.MappingNode):
        raise _err(file, node, prefix, f"expected a mapping, got {_kind(node)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    values: dict[str, Any] = {}
    for knode, vnode in node.value:
        key = str(knode.value)
        where = f"{prefix}.{key}" if prefix else key
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise _err(file, knode, where, f"unknown key (known: {known})")
        values[key] = _convert(hints[key], vnode, file, where)
    try:
        return cls(**values)
    except (TypeError, ValueError) as e:
        raise _err(file, node, prefix, str(e)) from None


def _convert(tp: Any, node: yaml.Node, file: str, where: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null"):
            return None
        return _convert(args[0], node, file, where)
    if dataclasses.is_dataclass(tp):
        return build(tp, node, file, where)  # type: ignore[arg-type]
    if origin is tuple:
        if not isinstance(node, yaml.SequenceNode):
            raise _err(file, node, where, f"expected a list, got {_kind(node)}")
        item = typing.get_args(tp)[0]
        return tuple(_convert(item, n, file, f"{where}[{i}]") for i, n in enumerate(node.value))
    if origin is dict:
        if not isinstance(node, yaml.MappingNode):
            raise _err(file, node, where, f"expected a mapping, got {_kind(node)}")
        kt, vt = typing.get_args(tp)
        return {
            _scalar(kt, k, file, where): _convert(vt, v, file, f"{where}.{k.value}")
            for k, v in node.value
        }
    return _scalar(tp, node, file, where)


def _scalar(tp: Any, node: yaml.Node, file: str, where: str) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        raise _err(
            file, node, where, f"expected a {getattr(tp, '__name__', tp)}, got {_kind(node)}"
        )
    try:
        value = SAFE.construct(node)
    except yaml.YAMLError as e:  # `!!int abc`, a date of month 13: said where, not raised
        raise _err(file, node, where, str(getattr(e, "problem", e))) from None
    try:
        if tp is bool:
            if not isinstance(value, bool):
                raise ValueError
            return value
        if tp is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError
        if tp is float and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ValueError
        if tp is float and not math.isfinite(value):
            raise _err(file, node, where, f"expected a finite number, got {node.value!r}")
        if tp is str and not isinstance(value, str | int | float):
            raise ValueError
        return tp(value)
    except (TypeError, ValueError):
        name = getattr(tp, "__name__", str(tp))
        raise _err(file, node, where, f"expected a {name}, got {node.value!r}") from None


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return repr(getattr(node, "value", node))
