"""Site policy: the department's networks, approved services, exemptions, schedule, and what
to do about each provision. Config dataclasses (built by sensor.config) and their compiled,
fast form (`SitePolicy`) used by the classifier.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field

from sensor.classify.matchers.domain import normalise, suffixes
from sensor.classify.nets import DEFAULT_INTERNAL, NetSet, parse_cidrs
from sensor.classify.provisions import SEVERITIES, Provision
from sensor.classify.view import FlowView, Networks

__all__ = [
    "ACTIONS",
    "AlertConfig",
    "ApprovedService",
    "NetworksConfig",
    "PolicyConfig",
    "ProvisionPolicy",
    "Schedule",
    "SitePolicy",
]

ACTIONS = ("alert", "record", "ignore")
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _hhmm_range(text: str, what: str) -> tuple[int, int]:
    """`08:00-17:00` -> minutes of the day (480, 1020)."""
    try:
        a, b = (p.strip() for p in text.split("-"))
        lo = int(a[:2]) * 60 + int(a[3:5])
        hi = int(b[:2]) * 60 + int(b[3:5])
        if len(a) != 5 or len(b) != 5 or a[2] != ":" or b[2] != ":":
            raise ValueError
    except (ValueError, IndexError):
        raise ValueError(f"{what}: expected HH:MM-HH:MM, got {text!r}") from None
    if not 0 <= lo < hi <= 24 * 60:
        raise ValueError(f"{what}: {text!r} is not a range within one day")
    return lo, hi


@dataclass(frozen=True, slots=True)
class Schedule:
    """When the department works. Outside work hours and at lunch is personal time."""

    timezone: str = "America/Chicago"
    work_days: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri")
    work_hours: str = "08:00-17:00"
    lunch: str = "12:00-13:00"
    holidays: tuple[str, ...] = ()
    """Dates (YYYY-MM-DD) that count as personal time all day."""

    def __post_init__(self) -> None:
        try:
            zoneinfo.ZoneInfo(self.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"timezone: unknown time zone {self.timezone!r}") from None
        bad = [d for d in self.work_days if d not in _DAYS]
        if bad:
            raise ValueError(f"work_days: unknown day {bad[0]!r} (use {', '.join(_DAYS)})")
        _hhmm_range(self.work_hours, "work_hours")
        _hhmm_range(self.lunch, "lunch")
        for h in self.holidays:
            try:
                dt.date.fromisoformat(h)
            except ValueError:
                raise ValueError(f"holidays: not a date: {h!r}") from None


@dataclass(frozen=True, slots=True)
class ProvisionPolicy:
    """What the site does about one provision."""

    action: str = "alert"
    """alert: violations are recorded and raise alerts; record: recorded only; ignore: the
    flow keeps its category but its action is `none`."""
    severity: str | None = None
    """Alert severity (default: the provision registry's)."""
    personal_use: bool | None = None
    """Allow limited personal use outside work hours and at lunch (default: whether the policy
    text permits it for this provision)."""
    dedup_seconds: float | None = None

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"action: expected one of {', '.join(ACTIONS)}, got {self.action!r}")
        if self.severity is not None and self.severity not in SEVERITIES:
            raise ValueError(f"severity: expected one of {', '.join(SEVERITIES)}")


@dataclass(frozen=True, slots=True)
class ApprovedService:
    """A service IS management approved, for some provisions (all when `provisions` is empty)."""

    name: str
    provisions: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()
    addresses: tuple[str, ...] = ()
    ja4: tuple[str, ...] = ()
    signatures: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        for d in self.domains:
            normalise(d)
        parse_cidrs(self.addresses)
        if not (self.domains or self.addresses or self.ja4 or self.signatures):
            raise ValueError(
                f"approved service {self.name!r}: give domains, addresses, ja4 or signatures"
            )


@dataclass(frozen=True, slots=True)
class NetworksConfig:
    """The department's address plan."""

    internal: tuple[str, ...] = DEFAULT_INTERNAL
    workstations: tuple[str, ...] = ()
    """Networks of staff workstations and other personal devices: a host there that serves
    clients from outside its network is a personal server (9e). Empty: 9e is not checked."""
    servers: tuple[str, ...] = ()
    """Hosts inside those networks that are approved servers (never `personal_server`)."""

    def __post_init__(self) -> None:
        parse_cidrs(self.internal)
        parse_cidrs(self.workstations)
        parse_cidrs(self.servers)


@dataclass(frozen=True, slots=True)
class AlertConfig:
    """Alert stream and suppression."""

    dedup_seconds: float = 3600.0
    """One alert per signature and source host per this many seconds; later ones are counted."""
    jsonl: str | None = None
    """JSON-lines alert file (default: alerts.jsonl beside the catalog; "" for none)."""


@dataclass(frozen=True, slots=True)
class WirelessPolicy:
    """The department's access point inventory and the thresholds of the 802.11 checks (22)."""

    approved_bssids: tuple[str, ...] = ()
    approved_ouis: tuple[str, ...] = ()
    """Vendor prefixes (aa:bb:cc) of the department's access points."""
    corporate_ssids: tuple[str, ...] = ()
    min_signal_dbm: int = -75
    """An unknown AP heard at least this loud is in the building (or next to it)."""
    deauth_burst: int = 20
    deauth_seconds: float = 10.0
    oui_database: str = "/usr/share/wireshark/manuf"
    max_aps: int = 20_000
    """Access points (and deauth targets) remembered; a beacon flood evicts the oldest."""
    ap_expiry_seconds: float = 86_400.0
    """An access point not heard for this long is forgotten (it alerts again if it returns)."""
    alerts_per_minute: int = 10
    """More wireless alerts than this in a minute are held back and summed up in one
    `beacon_flood` alert with their count, so a flood of fake BSSIDs is one alert."""

    def __post_init__(self) -> None:
        if self.max_aps < 1 or self.alerts_per_minute < 1 or not self.ap_expiry_seconds > 0:
            raise ValueError("max_aps, alerts_per_minute and ap_expiry_seconds must be positive")
        for m in (*self.approved_bssids, *self.approved_ouis):
            if not all(len(x) == 2 for x in m.replace("-", ":").split(":")):
                raise ValueError(f"not a MAC address or prefix: {m!r}")


@dataclass(frozen=True, slots=True)
class PolicyConfig:
    """The `policy:` section of the site config."""

    networks: NetworksConfig = field(default_factory=NetworksConfig)
    schedule: Schedule = field(default_factory=Schedule)
    exempt_hosts: tuple[str, ...] = ()
    dns_servers: tuple[str, ...] = ()
    """The department's resolvers: encrypted DNS to them is not circumvention (7m)."""
    voip_servers: tuple[str, ...] = ()
    """The department's VOIP servers and gateways: VOIP with them is approved (16)."""
    dhcp_servers: tuple[str, ...] = ()
    """The department's DHCP servers (and relays): a DHCP offer from anything else is a rogue
    DHCP server (22). Empty: not checked."""
    wlan_controllers: tuple[str, ...] = ()
    """The department's wireless LAN controllers: CAPWAP/LWAPP to others is a rogue AP (22).
    Empty: not checked."""
    wireless: WirelessPolicy = field(default_factory=WirelessPolicy)
    approved: tuple[ApprovedService, ...] = ()
    provisions: dict[str, ProvisionPolicy] = field(default_factory=dict)
    alerts: AlertConfig = field(default_factory=AlertConfig)
    store_uri_query: bool = False
    """Keep the query string (`?q=...`) of HTTP request targets in records, evidence and
    alerts. Off: Policy 2503 forbids storing content, and a search query is content.
    Signatures still see the whole target while the flow is inspected."""

    def __post_init__(self) -> None:
        parse_cidrs(self.exempt_hosts)
        parse_cidrs(self.dhcp_servers)
        parse_cidrs(self.wlan_controllers)
        parse_cidrs(self.dns_servers)
        parse_cidrs(self.voip_servers)


@dataclass(slots=True)
class Decision:
    """The policy outcome for one matched flow."""

    action: str
    severity: str
    alert: bool
    note: str = ""


class SitePolicy:
    """PolicyConfig compiled for per-flow decisions."""

    def __init__(self, cfg: PolicyConfig, provisions: Mapping[str, Provision]) -> None:
        self.cfg = cfg
        self.provisions = provisions
        unknown = sorted(set(cfg.provisions) - set(provisions))
        for a in cfg.approved:
            unknown += sorted(set(a.provisions) - set(provisions))
        if unknown:
            raise ValueError(
                f"unknown provision {unknown[0]!r} (known: {', '.join(sorted(provisions))})"
            )
        n = cfg.networks
        self.networks = Networks(n.internal, n.servers, n.workstations)
        self.networks.lists = {
            "dhcp_servers": NetSet(cfg.dhcp_servers),
            "wlan_controllers": NetSet(cfg.wlan_controllers),
        }
        self.exempt = NetSet(cfg.exempt_hosts)
        approved = list(cfg.approved)
        if cfg.dns_servers:
            approved.append(
                ApprovedService("department DNS", ("2503-7m",), addresses=cfg.dns_servers)
            )
        if cfg.networks.servers:
            approved.append(
                ApprovedService("department server", ("2503-9e",), addresses=cfg.networks.servers)
            )
        if cfg.voip_servers:
            approved.append(
                ApprovedService(
                    "department VOIP", ("2503-16", "2503-15"), addresses=cfg.voip_servers
                )
            )
        self._approved = [_CompiledApproval(a) for a in approved]
        s = cfg.schedule
        self._tz = zoneinfo.ZoneInfo(s.timezone)
        self._days = frozenset(_DAYS.index(d) for d in s.work_days)
        self._work = _hhmm_range(s.work_hours, "work_hours")
        self._lunch = _hhmm_range(s.lunch, "lunch")
        self._holidays = frozenset(dt.date.fromisoformat(h) for h in s.holidays)
        self._minute = (-1, False)
        self._pp = {pid: cfg.provisions.get(pid) or ProvisionPolicy() for pid in provisions}
        """Each provision's site policy, built once (the default where the site says none)."""

    def personal_time(self, ts_ns: int) -> bool:
        """True before or after work hours, at lunch, on non-work days and holidays."""
        minute = ts_ns // 60_000_000_000
        if self._minute[0] == minute:
            return self._minute[1]
        t = dt.datetime.fromtimestamp(minute * 60, self._tz)
        m = t.hour * 60 + t.minute
        personal = (
            t.weekday() not in self._days
            or t.date() in self._holidays
            or not self._work[0] <= m < self._work[1]
            or self._lunch[0] <= m < self._lunch[1]
        )
        self._minute = (minute, personal)
        return personal

    def provision_policy(self, pid: str) -> ProvisionPolicy:
        pp = self._pp.get(pid)
        return pp if pp is not None else self.cfg.provisions.get(pid) or ProvisionPolicy()

    def decide(self, v: FlowView, sig_id: int, pid: str) -> Decision:
        """Exempt, approved, ignored, personal time, or a violation: in that order."""
        prov = self.provisions[pid]
        pp = self.provision_policy(pid)
        severity = pp.severity or prov.severity
        if self.exempt and (
            self.exempt.contains(v.ver, v.src_ip) or self.exempt.contains(v.ver, v.dest_ip)
        ):
            return Decision("exempt", severity, False, "exempt host")
        for a in self._approved:
            why = a.approves(v, sig_id, pid)
            if why:
                return Decision("approved", severity, False, why)
        if pp.action == "ignore":
            return Decision("none", severity, False, "ignored by site policy")
        allowed = prov.personal_use if pp.personal_use is None else pp.personal_use
        if allowed and self.personal_time(v.ts_start):
            return Decision("personal_use_window", severity, False, "personal time")
        return Decision("violation", severity, pp.action == "alert")


class _CompiledApproval:
    __slots__ = ("domains", "ja4", "name", "nets", "provisions", "signatures")

    def __init__(self, a: ApprovedService) -> None:
        self.name = a.name
        self.provisions = frozenset(a.provisions)
        self.domains = frozenset(normalise(d) for d in a.domains)
        self.nets = NetSet(a.addresses)
        self.ja4 = frozenset(a.ja4)
        self.signatures = frozenset(a.signatures)

    def approves(self, v: FlowView, sig_id: int, pid: str) -> str:
        if self.provisions and pid not in self.provisions:
            return ""
        if sig_id in self.signatures:
            return f"approved: {self.name} (signature {sig_id})"
        if self.domains:
            for f, name in v.names():
                for s in suffixes(name):
                    if s in self.domains:
                        return f"approved: {self.name} ({f}={name})"
        if self.nets:
            for side, addr in (("dest_ip", v.dest_ip), ("src_ip", v.src_ip)):
                if self.nets.contains(v.ver, addr):
                    return f"approved: {self.name} ({side}={v.ip_text(addr)})"
        if self.ja4 and v.meta.get("ja4") in self.ja4:
            return f"approved: {self.name} (ja4={v.meta['ja4']})"
        return ""
