"""Signature files: load, validate, apply site overrides, and say what is wrong with file:line.

Signatures are data (`signatures/*.yaml`): a stable integer `id` inside the range its file
declares, a `rev` bumped on every change of `match`, the `provision` it enforces, and a
`match` tree of clauses (see matchers). Sites never edit the shipped files: a site file
redefines a signature by id with a higher `rev`, or disables it with `{id: N, enabled: false}`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sensor.classify.feeds import Feed
from sensor.classify.matchers import Matcher, compile_clause
from sensor.classify.provisions import Provision
from sensor.datafile import SAFE, not_utf8, yaml_error

__all__ = ["Signature", "SignatureSet", "load_signatures", "signature_files"]

_NOT_SIGNATURES = frozenset({"provisions.yaml", "benign.yaml"})

_KEYS = {
    "id",
    "rev",
    "name",
    "msg",
    "service",
    "provision",
    "confidence",
    "match",
    "tests",
    "enabled",
    "metadata",
    "ndpi",
    "refs",
}


@dataclass(frozen=True, slots=True)
class Signature:
    """One compiled signature."""

    id: int
    rev: int
    name: str
    msg: str
    service: str
    provision: str
    category: str
    confidence: float
    match: Matcher = field(repr=False, compare=False)
    tests: tuple[str, ...] = ()
    ndpi: tuple[str, ...] = ()
    """nDPI's names for what this signature recognises (`sensor signatures coverage`)."""
    refs: tuple[str, ...] = ()
    """Where its indicators are published (RFC, vendor document, paper, URL)."""
    where: str = ""
    """file:line of its definition, for messages."""


@dataclass(slots=True)
class SignatureSet:
    """The active signatures, the problems found while loading them, and a version tag."""

    signatures: list[Signature] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    version: str = ""
    files: list[Path] = field(default_factory=list)
    feeds: dict[str, Feed] = field(default_factory=dict)
    """The feeds loaded alongside (by name), for metrics and `sensor signatures update`."""

    def by_id(self) -> dict[int, Signature]:
        return {s.id: s for s in self.signatures}


@dataclass(frozen=True, slots=True)
class _Refs:
    """What a signature may name: provisions, and feeds for `{feed: NAME}` clauses."""

    provisions: Mapping[str, Provision]
    feeds: Mapping[str, Feed]


class _Dict(dict[str, Any]):
    """A mapping that remembers the line it started on."""

    line = 0


def _construct_map(loader: yaml.constructor.SafeConstructor, node: yaml.MappingNode) -> _Dict:
    d = _Dict({str(k): v for k, v in loader.construct_mapping(node, deep=True).items()})
    d.line = node.start_mark.line + 1
    return d


_LINE_LOADERS = SAFE.with_constructor("tag:yaml.org,2002:map", _construct_map)


def signature_files(paths: Iterable[Path]) -> list[Path]:
    """Expand directories to their `*.yaml` files (sorted), leaving out the provision
    registry and the benign-capture list."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out += sorted(f for f in p.glob("*.yaml") if f.name not in _NOT_SIGNATURES)
        elif p.exists() or p.suffix in (".yaml", ".yml"):
            out.append(p)  # a missing file is reported when it is read
        # else: a site directory that does not exist yet holds no signatures
    return out


def load_signatures(
    shipped: Sequence[Path],
    site: Sequence[Path],
    provisions: Mapping[str, Provision],
    disabled: Iterable[int] = (),
    feeds: Mapping[str, Feed] | None = None,
) -> SignatureSet:
    """Load shipped files, then site files (which may override by id), then drop `disabled`.
    `feeds` (by name) resolve `{feed: NAME}` clauses; their versions are part of the set's.

    Never raises for content problems: they are collected in `errors`, so `sensor signatures
    check` can list them all; the sensor refuses to start when there is any.
    """
    result = SignatureSet()
    active: dict[int, Signature] = {}
    refs = _Refs(provisions, feeds or {})
    digest = hashlib.sha256(" ".join(sorted(f.label for f in refs.feeds.values())).encode())
    for is_site, files in ((False, signature_files(shipped)), (True, signature_files(site))):
        for path in files:
            result.files.append(path)
            try:
                text = path.read_text(encoding="utf-8")
            except UnicodeDecodeError as e:
                result.errors.append(not_utf8(path, e))
                continue
            except OSError as e:
                result.errors.append(f"{path}: cannot read: {e.strerror}")
                continue
            digest.update(path.name.encode() + b"\0" + text.encode())
            _load_file(path, text, is_site, refs, active, result.errors)
    off = set(disabled)
    for sid in sorted(off - set(active)):
        result.errors.append(f"signatures.disabled: no signature with id {sid}")
    digest.update(repr(sorted(off)).encode())
    result.signatures = [s for sid, s in sorted(active.items()) if sid not in off]
    result.version = digest.hexdigest()[:12]
    return result


def _load_file(
    path: Path,
    text: str,
    is_site: bool,
    refs: _Refs,
    active: dict[int, Signature],
    errors: list[str],
) -> None:
    try:
        doc = _LINE_LOADERS.load(text)
    except yaml.YAMLError as e:
        errors.append(yaml_error(path, e))
        return
    if not isinstance(doc, _Dict) or doc.get("schema") != 1:
        errors.append(f"{path}:1: not a signature file (expected `schema: 1` at the top)")
        return
    lo, hi = _id_range(doc, path, errors)
    items = doc.get("signatures")
    if not isinstance(items, list):
        errors.append(f"{path}:{doc.line}: `signatures` must be a list")
        return
    for raw in items:
        if not isinstance(raw, _Dict):
            errors.append(f"{path}: each entry of `signatures` must be a mapping")
            continue
        where = f"{path}:{raw.line}"
        sid = raw.get("id")
        if isinstance(sid, bool) or not isinstance(sid, int) or sid <= 0:
            errors.append(f"{where}: id: expected a positive integer, got {sid!r}")
            continue
        if not lo <= sid <= hi:
            errors.append(f"{where}: signature {sid}: id outside this file's range {lo}-{hi}")
            continue
        old = active.get(sid)
        if raw.get("enabled") is False and set(raw) <= {"id", "enabled", "rev"}:
            if old is None:
                errors.append(f"{where}: signature {sid}: disables an id that does not exist")
            else:
                del active[sid]
            continue
        sig = _compile(raw, where, refs, errors)
        if sig is None:
            continue
        if old is not None:
            if not is_site:
                errors.append(f"{where}: signature {sid}: duplicate id (also at {old.where})")
                continue
            if sig.rev <= old.rev:
                errors.append(
                    f"{where}: signature {sid}: overrides {old.where} but its rev {sig.rev} "
                    f"is not higher than {old.rev}"
                )
                continue
        if raw.get("enabled", True) is False:
            active.pop(sid, None)
            continue
        active[sid] = sig


def _id_range(doc: _Dict, path: Path, errors: list[str]) -> tuple[int, int]:
    ids = doc.get("ids")
    if ids is None:
        return 1, 2**31 - 1
    if (
        isinstance(ids, list)
        and len(ids) == 2
        and all(isinstance(i, int) and not isinstance(i, bool) for i in ids)
        and 0 < ids[0] <= ids[1]
    ):
        return int(ids[0]), int(ids[1])
    errors.append(f"{path}:{doc.line}: ids: expected [first, last]")
    return 1, 2**31 - 1


def _compile(raw: _Dict, where: str, refs: _Refs, errors: list[str]) -> Signature | None:
    sid = raw["id"]
    head = f"{where}: signature {sid}"
    unknown = set(raw) - _KEYS
    if unknown:
        errors.append(
            f"{head}: unknown key {sorted(unknown)[0]!r} (known: {', '.join(sorted(_KEYS))})"
        )
        return None
    rev = raw.get("rev")
    if isinstance(rev, bool) or not isinstance(rev, int) or rev < 1:
        errors.append(f"{head}: rev: expected a positive integer")
        return None
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        errors.append(f"{head}: name: required")
        return None
    prov = refs.provisions.get(str(raw.get("provision")))
    if prov is None:
        known = ", ".join(sorted(refs.provisions))
        errors.append(f"{head}: provision: unknown {raw.get('provision')!r} (known: {known})")
        return None
    conf = raw.get("confidence", 0.9)
    if isinstance(conf, bool) or not isinstance(conf, int | float) or not 0 < conf <= 1:
        errors.append(f"{head}: confidence: expected a number in (0, 1]")
        return None
    if "match" not in raw:
        errors.append(f"{head}: match: required")
        return None
    try:
        matcher = compile_clause(raw["match"], feeds=refs.feeds)
    except ValueError as e:
        line = getattr(raw["match"], "line", None)
        at = f"{where.rsplit(':', 1)[0]}:{line}" if line else where
        errors.append(f"{at}: signature {sid}: {e}")
        return None
    lists = _string_lists(raw, head, errors)
    if lists is None:
        return None
    return Signature(
        id=sid,
        rev=rev,
        name=name,
        msg=str(raw.get("msg") or f"{prov.title}: {name}"),
        service=str(raw.get("service") or name),
        provision=prov.id,
        category=prov.category,
        confidence=float(conf),
        match=matcher,
        tests=tuple(lists["tests"]),
        ndpi=tuple(lists["ndpi"]),
        refs=tuple(lists["refs"]),
        where=where,
    )


def _string_lists(raw: _Dict, head: str, errors: list[str]) -> dict[str, list[str]] | None:
    """`tests`, `ndpi` and `refs`: each a list of strings when given."""
    lists = {k: raw.get(k, []) for k in ("tests", "ndpi", "refs")}
    for k, v in lists.items():
        if not isinstance(v, list) or not all(isinstance(t, str) for t in v):
            errors.append(f"{head}: {k}: expected a list of strings")
            return None
    return lists
