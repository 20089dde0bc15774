"""Site policy: the schedule, approvals, exemptions and actions, and config errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from sensor.classify import shipped_dir
from sensor.classify.policy import (
    ApprovedService,
    NetworksConfig,
    PolicyConfig,
    ProvisionPolicy,
    Schedule,
    SitePolicy,
)
from sensor.classify.provisions import load_provisions
from sensor.config import load_config
from sensor.errors import ConfigError
from tests.unit.classify.helpers import T_LUNCH, T_WORK, make_flow, view

PROVISIONS = load_provisions(shipped_dir() / "provisions.yaml")
H = 3600 * 10**9


def policy(**kw: object) -> SitePolicy:
    return SitePolicy(PolicyConfig(**kw), PROVISIONS)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("offset_h", "personal"),
    [
        (0, False),  # Tue 10:00
        (2.25, True),  # Tue 12:15, lunch
        (3, False),  # Tue 13:00, back at work
        (-2.5, True),  # Tue 07:30, before work
        (7, True),  # Tue 17:00, after work
        (4 * 24, True),  # Sat 10:00
    ],
)
def test_personal_time_follows_the_site_schedule(offset_h: float, personal: bool) -> None:
    assert policy().personal_time(T_WORK + int(offset_h * H)) is personal


def test_holidays_and_time_zones() -> None:
    p = policy(schedule=Schedule(holidays=("2025-11-25",)))
    assert p.personal_time(T_WORK)
    utc = policy(schedule=Schedule(timezone="UTC"))
    assert not utc.personal_time(T_WORK)  # 16:00 in UTC: working
    assert utc.personal_time(T_WORK + 2 * H)  # 18:00 in UTC; 12:00 lunch in Chicago
    assert not policy().personal_time(T_WORK + 1 * H)  # 11:00 in Chicago


def _decide(p: SitePolicy, prov: str, ts: int = T_WORK, **flow: object) -> str:
    return p.decide(view(make_flow(ts=ts, **flow), p.networks), 1, prov).action  # type: ignore[arg-type]


def test_messaging_is_a_violation_at_work_and_personal_use_at_lunch() -> None:
    p = policy()
    assert _decide(p, "2503-15") == "violation"
    assert _decide(p, "2503-15", ts=T_LUNCH) == "personal_use_window"


def test_radio_stays_a_violation_at_lunch() -> None:
    assert _decide(policy(), "2503-9b", ts=T_LUNCH) == "violation"


def test_a_site_may_refuse_personal_use() -> None:
    p = policy(provisions={"2503-15": ProvisionPolicy(personal_use=False)})
    assert _decide(p, "2503-15", ts=T_LUNCH) == "violation"


def test_approved_services_by_domain_address_and_provision() -> None:
    teams = ApprovedService("tenant", ("2503-15", "2503-16"), domains=("teams.microsoft.com",))
    p = policy(approved=(teams,), voip_servers=("10.1.5.0/24",))
    meta = {"tls.sni": "eu.ng.msg.teams.microsoft.com"}
    assert _decide(p, "2503-15", meta=meta) == "approved"
    assert _decide(p, "2503-ai", meta=meta) == "violation"  # approved for 15/16 only
    assert _decide(p, "2503-16", dst="10.1.5.7", proto=17) == "approved"
    d = p.decide(view(make_flow(meta=meta), p.networks), 1, "2503-15")
    assert d.note == "approved: tenant (tls.sni=eu.ng.msg.teams.microsoft.com)"


def test_exempt_hosts_come_first_and_ignore_records_no_violation() -> None:
    p = policy(exempt_hosts=("10.20.1.0/24",), provisions={"2503-9f": ProvisionPolicy("ignore")})
    assert _decide(p, "2503-7m") == "exempt"
    assert _decide(p, "2503-9f", src="10.30.1.1") == "none"


def test_record_action_is_a_violation_without_an_alert() -> None:
    p = policy(provisions={"2503-13": ProvisionPolicy("record", severity="high")})
    d = p.decide(view(make_flow(), p.networks), 1, "2503-13")
    assert (d.action, d.alert, d.severity) == ("violation", False, "high")
    d = p.decide(view(make_flow(), p.networks), 1, "2503-7m")
    assert (d.action, d.alert, d.severity) == ("violation", True, "high")


def test_department_servers_are_approved_for_hosting() -> None:
    p = policy(networks=NetworksConfig(workstations=("10.20.0.0/16",), servers=("10.20.0.25",)))
    assert _decide(p, "2503-9e", src="203.0.113.5", dst="10.20.0.25") == "approved"


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("policy:\n  schedule:\n    timezone: Mars/Olympus\n", ":3: policy.schedule"),
        ("policy:\n  schedule:\n    work_hours: 9-5\n", "work_hours: expected HH:MM-HH:MM"),
        ("policy:\n  schedule:\n    work_days: [mon, funday]\n", "unknown day 'funday'"),
        ("policy:\n  exempt_hosts: [10.0.0.0/40]\n", "not an address or network"),
        ("policy:\n  provisions:\n    2503-15: {action: shout}\n", "action: expected one of"),
        (
            "policy:\n  provisions:\n    2503-15: {actoin: alert}\n",
            ":3: policy.provisions.2503-15.actoin: unknown key",
        ),
        ("policy:\n  approved:\n    - {name: x}\n", "give domains, addresses"),
        ("signatures:\n  disabled: [abc]\n", "signatures.disabled[0]: expected a int"),
    ],
)
def test_config_errors_name_file_line_and_key(tmp_path: Path, text: str, where: str) -> None:
    f = tmp_path / "sensor.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_config(f)
    assert str(f) in str(e.value) and where in str(e.value), str(e.value)


def test_unknown_provisions_in_the_policy_refuse_to_start() -> None:
    with pytest.raises(ValueError, match="unknown provision '2503-99'"):
        policy(provisions={"2503-99": ProvisionPolicy()})


def test_the_example_site_config_loads() -> None:
    cfg = load_config(Path(__file__).resolve().parents[3] / "systemd" / "sensor.yaml")
    p = SitePolicy(cfg.policy, PROVISIONS)
    assert _decide(p, "2503-15", meta={"tls.sni": "teams.microsoft.com"}) == "approved"
    assert _decide(p, "2503-ai", meta={"tls.sni": "m365.cloud.microsoft"}) == "approved"
    assert _decide(p, "2503-ai", meta={"tls.sni": "chatgpt.com"}) == "violation"
