"""The provision registry (`signatures/provisions.yaml`): what each policy item is called."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from sensor.datafile import SAFE, not_utf8
from sensor.errors import ConfigError

__all__ = ["SEVERITIES", "Provision", "load_provisions"]

SEVERITIES = ("low", "medium", "high", "critical")


@dataclass(frozen=True, slots=True)
class Provision:
    """One numbered provision of Policy 2503."""

    id: str
    section: str
    title: str
    category: str
    quote: str
    personal_use: bool
    """Whether the policy's limited personal use outside work hours can apply at all."""
    severity: str = "medium"


def load_provisions(path: Path) -> dict[str, Provision]:
    """Read the registry; errors name the file and the provision."""
    try:
        data = SAFE.load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise ConfigError(not_utf8(path, e)) from None
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"{path}: cannot read the provision registry: {e}") from None
    if not isinstance(data, dict) or data.get("schema") != 1:
        raise ConfigError(f"{path}: not a provision registry (schema: 1 expected)")
    listed = data.get("provisions") or {}
    if not isinstance(listed, dict):
        raise ConfigError(f"{path}: provisions: expected a mapping of provision ids")
    out: dict[str, Provision] = {}
    for pid, p in listed.items():
        try:
            prov = Provision(
                id=str(pid),
                section=str(p["section"]),
                title=str(p["title"]),
                category=str(p["category"]),
                quote=" ".join(str(p["quote"]).split()),
                personal_use=bool(p["personal_use"]),
                severity=str(p.get("severity", "medium")),
            )
        except (KeyError, TypeError) as e:
            raise ConfigError(f"{path}: provision {pid}: missing or bad key {e}") from None
        if prov.severity not in SEVERITIES:
            raise ConfigError(f"{path}: provision {pid}: severity must be one of {SEVERITIES}")
        out[prov.id] = prov
    return out
