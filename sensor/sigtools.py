"""`sensor signatures check|test`: what the people who maintain the rules run.

`check` loads the shipped and site signature files and lists every problem with file:line.
`test` replays, for every signature, the captures it names and fails unless the signature
matches a flow in each; then replays the benign set (`signatures/benign.yaml`) and fails if
any signature matches there. Captures are `corpus:<name>` (the shared corpus) or paths
relative to the directory above the signature file (`pcaps/ai/x.pcap`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from sensor.capture.pcapfile import open_capture
from sensor.classify import Classifier, Signature, build_classifier, load_rules, shipped_dir
from sensor.classify.matchers import Matcher
from sensor.classify.signatures import SignatureSet
from sensor.classify.view import FlowView
from sensor.config import SensorConfig
from sensor.datafile import SAFE, not_utf8, yaml_error
from sensor.errors import ConfigError, SensorError, UsageError
from sensor.flow.state import FlowState
from sensor.pipeline import Pipeline

__all__ = ["CaseResult", "benign_captures", "check", "resolve", "run_tests", "site_kinds"]


def check(cfg: SensorConfig, extra: Sequence[Path] = ()) -> SignatureSet:
    """The configured signature set plus `extra` files, with every problem found. Beyond
    what loading checks, every signature must say where its indicators are published
    (`refs:`): an indicator that only a capture shows recognises that capture, not the
    service. The sensor itself still loads a signature without refs."""
    sig_cfg = cfg.signatures
    if extra:
        sig_cfg = replace(sig_cfg, paths=(*sig_cfg.paths, *extra))
    _, sigs = load_rules(sig_cfg)
    sigs.errors += [
        f"{s.where}: signature {s.id}: refs: required (the RFC, vendor document, paper or "
        "URL that publishes its indicators)"
        for s in sigs.signatures
        if not s.refs
    ]
    return sigs


@dataclass(slots=True)
class CaseResult:
    """One signature against one capture (or one benign capture against every signature)."""

    capture: str
    signature: int | None
    ok: bool
    detail: str = ""


@dataclass(slots=True)
class _Views:
    """A sink that keeps a FlowView of every record."""

    classifier: Classifier
    views: list[FlowView] = field(default_factory=list)
    name: str = "views"

    def write_flow(self, flow: FlowState, reason: str) -> None:
        self.views.append(FlowView(flow, self.classifier.policy.networks))

    def flush(self, force: bool = False) -> None:
        pass

    def close(self) -> None:
        pass


def resolve(ref: str, sig_file: Path, corpus: Path | None) -> Path | None:
    """The file a test reference names; None when it is in a corpus we do not have."""
    if ref.startswith("corpus:"):
        return corpus / "pcaps" / ref.removeprefix("corpus:") if corpus else None
    return (sig_file.parent.parent / ref).resolve()


def _flows(path: Path, cfg: SensorConfig, classifier: Classifier) -> list[FlowView]:
    sink = _Views(classifier)
    Pipeline(cfg, [sink], classifier).run([open_capture(path)])
    return sink.views


def benign_captures(directory: Path, corpus: Path | None) -> list[tuple[str, Path | None]]:
    """The benign set declared in `<signatures>/benign.yaml`; a file that is not YAML or not a
    list of names is one `ConfigError` line, as every other data file's error is."""
    f = directory / "benign.yaml"
    if not f.exists():
        return []
    try:
        data = SAFE.load(f.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as e:
        raise ConfigError(not_utf8(f, e)) from None
    except yaml.YAMLError as e:
        raise ConfigError(yaml_error(f, e)) from None
    except OSError as e:
        raise ConfigError(f"{f}: cannot read the benign set: {e.strerror or e}") from None
    refs = data.get("captures", []) if isinstance(data, dict) else None
    if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
        raise ConfigError(f"{f}: `captures:` must be a list of capture names")
    out: list[tuple[str, Path | None]] = []
    for ref in refs:
        if ref.endswith("/"):
            folder = resolve(ref, f, corpus)
            out += [(str(p), p) for p in sorted(folder.glob("*.pcap*"))] if folder else []
        else:
            out.append((ref, resolve(ref, f, corpus)))
    return out


def run_tests(cfg: SensorConfig, corpus: Path | None, only: Iterable[int] = ()) -> list[CaseResult]:
    """Every signature's own captures must fire it; nothing may fire on the benign set."""
    classifier = build_classifier(cfg.signatures, cfg.policy)
    wanted = set(only)
    unknown = wanted - {s.id for s in classifier.signatures}
    if unknown:
        raise UsageError(
            f"no signature with id {', '.join(map(str, sorted(unknown)))} "
            "(`sensor signatures check` lists the set)"
        )
    sigs = [s for s in classifier.signatures if not wanted or s.id in wanted]
    cache: dict[Path, list[FlowView]] = {}
    results: list[CaseResult] = []

    def flows(p: Path) -> list[FlowView]:
        if p not in cache:
            cache[p] = _flows(p, cfg, classifier)
        return cache[p]

    for sig in sigs:
        if not sig.tests:
            results.append(CaseResult("-", sig.id, False, "names no capture that must fire it"))
            continue
        sig_file = Path(sig.where.rsplit(":", 1)[0])
        results.extend(_one(sig, r, resolve(r, sig_file, corpus), flows) for r in sig.tests)
    directory = cfg.signatures.directory or shipped_dir()
    for ref, path in benign_captures(directory, corpus):
        if path is None:
            results.append(CaseResult(ref, None, True, "skipped: no corpus"))
            continue
        if not path.exists():
            results.append(CaseResult(ref, None, False, "benign capture not found"))
            continue
        fired = sorted({s.id for v in flows(path) for s in sigs if s.match.match(v)})
        detail = f"signatures fired: {fired}" if fired else ""
        results.append(CaseResult(ref, None, not fired, detail))
    return results


_SITE_KINDS = frozenset({"boundary", "unlisted"})


def site_kinds(m: Matcher) -> set[str]:
    """Matcher kinds in `m` that depend on the site config (its networks and lists): such a
    signature cannot fire on its test capture with the built-in defaults."""
    kinds = {m.kind} & _SITE_KINDS
    for part in (*getattr(m, "parts", ()), getattr(m, "part", None)):
        if part is not None:
            kinds |= site_kinds(part)
    return kinds


def _one(
    sig: Signature, ref: str, path: Path | None, flows: Callable[[Path], list[FlowView]]
) -> CaseResult:
    if path is None:
        return CaseResult(ref, sig.id, True, "skipped: no corpus")
    if not path.exists():
        return CaseResult(ref, sig.id, False, f"capture not found: {path}")
    try:
        views = flows(path)
    except SensorError as e:
        return CaseResult(ref, sig.id, False, f"cannot replay: {e}")
    hits = [ev for v in views if (ev := sig.match.match(v)) is not None]
    if not hits:
        site = sorted(site_kinds(sig.match))
        hint = f" (it uses the site's lists: {', '.join(site)}; pass -c CONFIG)" if site else ""
        return CaseResult(ref, sig.id, False, f"no flow of {len(views)} matches{hint}")
    return CaseResult(ref, sig.id, True, f"{len(hits)} flow(s), e.g. {hits[0][0]}")
