"""Classification: signatures (data in `signatures/`) and site policy -> verdict per flow."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from sensor.classify.classifier import VERDICT_FIELDS, Classifier, Verdict
from sensor.classify.policy import PolicyConfig, SitePolicy
from sensor.classify.provisions import Provision, load_provisions
from sensor.classify.signatures import Signature, SignatureSet, load_signatures
from sensor.errors import ConfigError

__all__ = [
    "VERDICT_FIELDS",
    "Classifier",
    "PolicyConfig",
    "Provision",
    "Signature",
    "SignatureSet",
    "SignaturesConfig",
    "Verdict",
    "build_classifier",
    "load_rules",
    "shipped_dir",
]


@dataclass(frozen=True, slots=True)
class SignaturesConfig:
    """The `signatures:` section: which rule files to load on top of the shipped ones."""

    paths: tuple[Path, ...] = ()
    """Site signature files or directories, loaded after the shipped set; they may override
    a shipped signature by id with a higher rev, or disable it."""
    disabled: tuple[int, ...] = ()
    """Signature ids to turn off."""
    shipped: bool = True
    """Load the signatures that come with the sensor."""
    directory: Path | None = None
    """Where the shipped signatures and provisions.yaml are (default: installed with the
    package)."""


def shipped_dir() -> Path:
    """The `signatures/` directory installed with the package (the repository's in a checkout)."""
    repo = Path(__file__).resolve().parents[2] / "signatures"
    if (repo / "provisions.yaml").is_file():
        return repo
    return Path(str(resources.files("sensor") / "rules"))


def load_rules(cfg: SignaturesConfig) -> tuple[dict[str, Provision], SignatureSet]:
    """Provisions and signatures as configured; content errors are in the set's `errors`."""
    base = cfg.directory or shipped_dir()
    provisions = load_provisions(base / "provisions.yaml")
    sigs = load_signatures([base] if cfg.shipped else [], list(cfg.paths), provisions, cfg.disabled)
    return provisions, sigs


def build_classifier(sig_cfg: SignaturesConfig, policy_cfg: PolicyConfig) -> Classifier:
    """Everything the classifier needs, or a ConfigError listing every problem found."""
    provisions, sigs = load_rules(sig_cfg)
    if sigs.errors:
        raise ConfigError(f"{len(sigs.errors)} signature error(s):\n  " + "\n  ".join(sigs.errors))
    try:
        policy = SitePolicy(policy_cfg, provisions)
    except ValueError as e:
        raise ConfigError(f"policy: {e}") from None
    return Classifier(sigs.signatures, policy, sigs.version)
