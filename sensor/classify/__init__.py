"""Classification: signatures (data in `signatures/`) and site policy -> verdict per flow."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from sensor.classify.classifier import VERDICT_FIELDS, Classifier, Verdict
from sensor.classify.feeds import Feed, load_feeds
from sensor.classify.policy import PolicyConfig, SitePolicy
from sensor.classify.provisions import Provision, load_provisions
from sensor.classify.signatures import Signature, SignatureSet, load_signatures
from sensor.errors import ConfigError

__all__ = [
    "VERDICT_FIELDS",
    "Classifier",
    "Feed",
    "PolicyConfig",
    "Provision",
    "Signature",
    "SignatureSet",
    "SignaturesConfig",
    "Verdict",
    "build_classifier",
    "feed_dirs",
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
    feeds_dir: Path | None = None
    """Writable directory of refreshed feeds (`sensor signatures update` writes there; the
    services use /var/lib/sensor/feeds). A feed found there replaces the shipped snapshot in
    `<directory>/feeds/` of the same name."""


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
    feeds = load_feeds(feed_dirs(cfg))
    sigs = load_signatures(
        [base] if cfg.shipped else [], list(cfg.paths), provisions, cfg.disabled, feeds.feeds
    )
    sigs.errors[:0] = feeds.errors
    sigs.feeds = feeds.feeds
    return provisions, sigs


def feed_dirs(cfg: SignaturesConfig) -> list[Path]:
    """Where feeds are read from, later ones winning: the shipped snapshots, then the
    refreshed copies."""
    base = cfg.directory or shipped_dir()
    return [base / "feeds", *([cfg.feeds_dir] if cfg.feeds_dir else [])]


def build_classifier(sig_cfg: SignaturesConfig, policy_cfg: PolicyConfig) -> Classifier:
    """Everything the classifier needs, or a ConfigError listing every problem found."""
    provisions, sigs = load_rules(sig_cfg)
    if sigs.errors:
        raise ConfigError(f"{len(sigs.errors)} signature error(s):\n  " + "\n  ".join(sigs.errors))
    try:
        policy = SitePolicy(policy_cfg, provisions)
    except ValueError as e:
        raise ConfigError(f"policy: {e}") from None
    return Classifier(sigs.signatures, policy, sigs.version, tuple(sigs.feeds.values()))
