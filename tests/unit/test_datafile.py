"""YAML data files through libyaml (sensor/datafile.py): the same nodes, marks and values as
PyYAML's pure-Python loader on every shipped file, and its very words for a broken one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from sensor.classify import shipped_dir
from sensor.classify.feeds import load_feeds
from sensor.classify.provisions import load_provisions
from sensor.classify.signatures import _LINE_LOADERS, load_signatures
from sensor.config import load_config
from sensor.datafile import SAFE, Loaders
from sensor.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted(
    [*shipped_dir().rglob("*.yaml"), *(REPO / "systemd").glob("*.yaml")],
    key=lambda p: str(p),
)
libyaml = pytest.mark.skipif(not yaml.__with_libyaml__, reason="PyYAML built without libyaml")
PROVISIONS = load_provisions(shipped_dir() / "provisions.yaml")

BROKEN = [
    "a: [1, 2\nb: 3\n",  # flow sequence never closed
    "a:\n  b: 1\n c: 2\n",  # indentation
    "a: 1\n\tb: 2\n",  # a tab as indentation
    "a: *nowhere\n",  # alias of no anchor
    "a: 1\n---\nb: 2\n",  # two documents
    "a: b: c\n",  # mapping value in a plain scalar
    "a: 'open\n",  # quoted scalar never closed
    "a: \x00\n",  # a control character
    "[" * 100_000 + "]" * 100_000,  # PyYAML: RecursionError; libyaml: its depth limit
]


def _nodes(n: yaml.Node | None) -> Any:
    """Everything of a node tree the sensor reads (tags, values, start marks)."""
    if n is None:
        return None
    head = (type(n).__name__, n.tag, n.start_mark.line, n.start_mark.column)
    if isinstance(n, yaml.ScalarNode):
        return (*head, n.value)
    if isinstance(n, yaml.SequenceNode):
        return (*head, [_nodes(c) for c in n.value])
    return (*head, [(_nodes(k), _nodes(v)) for k, v in n.value])


def _lines(v: Any) -> Any:
    """A loaded signature document with the line every mapping says it starts on."""
    if isinstance(v, dict):
        return (getattr(v, "line", None), {k: _lines(x) for k, x in v.items()})
    if isinstance(v, list):
        return [_lines(x) for x in v]
    return (type(v).__name__, v)


def _outcome(fn: Any, text: str) -> tuple[str, str]:
    try:
        return "ok", repr(fn(text))
    except RecursionError:
        return "RecursionError", ""  # its words depend on the stack it ran out in
    except yaml.YAMLError as e:
        return type(e).__name__, str(e)


def test_the_fast_loader_is_libyaml_where_pyyaml_has_it() -> None:
    want = yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader
    assert issubclass(SAFE.fast, want) and issubclass(SAFE.pure, yaml.SafeLoader)
    assert not issubclass(SAFE.pure, yaml.CSafeLoader)
    assert issubclass(_LINE_LOADERS.fast, want) and issubclass(_LINE_LOADERS.pure, yaml.SafeLoader)


@libyaml
@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_file_gives_the_same_nodes_values_and_lines(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    fast = _nodes(yaml.compose(text, Loader=SAFE.fast))
    assert fast == _nodes(yaml.compose(text, Loader=yaml.SafeLoader)) and fast is not None
    assert yaml.load(text, Loader=SAFE.fast) == yaml.safe_load(text)
    lines = _lines(yaml.load(text, Loader=_LINE_LOADERS.fast))
    assert lines == _lines(yaml.load(text, Loader=_LINE_LOADERS.pure))
    first = next(i for i, t in enumerate(text.splitlines(), 1) if t and not t.startswith("#"))
    assert lines[0] == first  # the marks are really there: the top mapping's first line


def test_values_types_and_duplicate_keys_are_pyyamls() -> None:
    text = (
        "a: 1\na: 2\n"  # the last duplicate wins, silently (PyYAML's rule)
        "n: [0o17, 017, 0x1F, 1_000, 1:20, .5, .inf, ~, yes, no, on, 2026-11-30]\n"
        "s: ['1', \"two\", 3 4, !!str 5]\n"
        "base: &b {x: 1}\nmerged: {<<: *b, y: 2}\n"
    )
    got = SAFE.load(text)
    assert got == yaml.safe_load(text)
    assert got["a"] == 2 and got["n"][:5] == ["0o17", 15, 31, 1000, 80]
    assert got["merged"] == {"x": 1, "y": 2} and got["s"] == ["1", "two", "3 4", "5"]


@pytest.mark.parametrize("text", BROKEN, ids=range(len(BROKEN)))
def test_a_broken_text_reads_as_pure_pyyaml_reads_it(text: str) -> None:
    pure = _outcome(lambda t: yaml.load(t, Loader=yaml.SafeLoader), text)
    assert pure[0] != "ok"
    assert _outcome(SAFE.load, text) == pure
    assert _outcome(SAFE.compose, text)[0] == pure[0]
    assert _outcome(_LINE_LOADERS.load, text) == pure


@libyaml
def test_libyaml_alone_would_have_worded_them_otherwise() -> None:
    """Why the second parse exists: without it these messages would change."""
    differ = [
        t
        for t in BROKEN
        if _outcome(lambda t: yaml.load(t, Loader=yaml.CSafeLoader), t)
        != _outcome(lambda t: yaml.load(t, Loader=yaml.SafeLoader), t)
    ]
    assert len(differ) >= len(BROKEN) // 2


def _problem(text: str) -> tuple[int, str]:
    """(line, problem) of pure PyYAML's complaint about `text`."""
    with pytest.raises(yaml.MarkedYAMLError) as e:
        yaml.load(text, Loader=yaml.SafeLoader)
    assert e.value.problem_mark is not None and e.value.problem is not None
    return e.value.problem_mark.line + 1, e.value.problem


def test_each_reader_reports_pure_pyyamls_line_and_words(tmp_path: Path) -> None:
    sig = "schema: 1\nids: [1000000, 1000999]\nsignatures:\n  - id: 1000001\n    rev: [1\n"
    line, problem = _problem(sig)
    f = tmp_path / "site.yaml"
    f.write_text(sig)
    assert load_signatures([], [f], PROVISIONS).errors == [f"{f}:{line}: invalid YAML: {problem}"]

    cfg = "flow:\n  timeouts: {tcp: 30\nstorage: {}\n"
    line, problem = _problem(cfg)
    c = tmp_path / "sensor.yaml"
    c.write_text(cfg)
    with pytest.raises(ConfigError) as e:
        load_config(c)
    assert str(e.value) == f"{c}:{line}: invalid YAML: {problem}"

    feeds = tmp_path / "feeds"
    feeds.mkdir()
    feed = "name: x\nentries:\n  - 10.0.0.0/8\n  -: [\n"
    (feeds / "x.yaml").write_text(feed)
    line, _ = _problem(feed)
    assert load_feeds([feeds]).errors == [f"{feeds / 'x.yaml'}:{line}: invalid YAML in feed"]


@libyaml
def test_what_libyaml_accepts_beyond_pyyaml_still_meets_the_checks(tmp_path: Path) -> None:
    """A tab inside a flow item: YAML allows it, PyYAML's scanner refused it, libyaml reads
    it; the value is then judged like any other, at its line."""
    text = (
        "schema: 1\nids: [1000000, 1000999]\nsignatures:\n  - id: 1000001\n    rev: 1\n"
        "    name: site.mail\n    provision: 2503-13\n    match: {port: [993, 9\t95]}\n"
    )
    assert _outcome(lambda t: yaml.load(t, Loader=yaml.SafeLoader), text)[0] == "ScannerError"
    f = tmp_path / "site.yaml"
    f.write_text(text)
    (err,) = load_signatures([], [f], PROVISIONS).errors
    assert err.startswith(f"{f}:8: signature 1000001: ") and "not a port" in err, err


def test_without_libyaml_one_pure_loader_serves_both() -> None:
    """PyYAML built without libyaml: the loaders are one class, each text parsed once."""
    calls: list[int] = []

    def construct(loader: Any, node: yaml.MappingNode) -> dict[str, Any]:
        calls.append(node.start_mark.line)
        return dict(loader.construct_mapping(node, deep=True))

    pure = Loaders(yaml.SafeLoader, yaml.SafeLoader).with_constructor(
        "tag:yaml.org,2002:map", construct
    )
    assert pure.fast is pure.pure and issubclass(pure.pure, yaml.SafeLoader)
    assert pure.load("a: {b: 1}\n") == {"a": {"b": 1}} and sorted(calls) == [0, 0]
    assert "tag:yaml.org,2002:map" not in yaml.SafeLoader.__dict__.get("yaml_constructors", {}) or (
        yaml.SafeLoader.yaml_constructors["tag:yaml.org,2002:map"] is not construct
    )
    with pytest.raises(yaml.YAMLError):
        pure.load("a: [1\n")
    assert sorted(calls) == [0, 0]  # the broken text was not constructed twice, nor at all


UNBUILDABLE = [
    ("a: 1\nb: !!int abc\n", 2),
    ("a:\n  - 2026-13-45\n", 2),  # a date of month 13
    ("a: !!bool maybe\n", 1),
    ("a: !!timestamp soon\n", 1),
    ("a: !!float x\n", 1),
    ("a: " + "1" * 5000 + "\n", 1),  # past Python's 4,300-digit int limit
]


@pytest.mark.parametrize(("text", "line"), UNBUILDABLE, ids=range(len(UNBUILDABLE)))
def test_a_value_pyyaml_cannot_build_is_a_yaml_error_at_its_line(text: str, line: int) -> None:
    """PyYAML itself raises ValueError, KeyError or AttributeError here (a traceback)."""
    with pytest.raises((ValueError, KeyError, AttributeError)):
        yaml.load(text, Loader=yaml.SafeLoader)
    for load in (SAFE.load, _LINE_LOADERS.load):
        with pytest.raises(yaml.constructor.ConstructorError) as e:
            load(text)
        assert e.value.problem_mark is not None and e.value.problem_mark.line + 1 == line
        assert str(e.value.problem).startswith("cannot read ")


def test_every_reader_turns_an_unbuildable_value_into_a_line(tmp_path: Path) -> None:
    sig = "schema: 1\nids: [1000000, 1000999]\nsignatures:\n  - id: 1000001\n    rev: !!int x\n"
    f = tmp_path / "site.yaml"
    f.write_text(sig)
    (err,) = load_signatures([], [f], PROVISIONS).errors
    assert err.startswith(f"{f}:5: invalid YAML: cannot read 'x' as int"), err

    c = tmp_path / "sensor.yaml"
    c.write_text("flow:\n  max_flows: !!int many\n")
    with pytest.raises(ConfigError) as ce:
        load_config(c)
    assert str(ce.value).startswith(f"{c}:2: flow.max_flows: cannot read 'many' as int")

    feeds = tmp_path / "feeds"
    feeds.mkdir()
    (feeds / "x.yaml").write_text("name: x\nfetched: 2026-13-45\nentries: [10.0.0.0/8]\n")
    assert load_feeds([feeds]).errors == [f"{feeds / 'x.yaml'}:2: invalid YAML in feed"]

    p = tmp_path / "provisions.yaml"
    for text in ("schema: 1\nprovisions:\n  x: {section: !!int s}\n", "schema: 1\nprovisions: x\n"):
        p.write_text(text)
        with pytest.raises(ConfigError) as pe:
            load_provisions(p)
        assert str(pe.value).startswith(f"{p}: ")


def test_a_file_that_is_not_utf8_is_one_line_in_every_reader(tmp_path: Path) -> None:
    latin = "schema: 1\nsignatures: []\n# café\n".encode("latin-1")  # byte 30, line 3
    f = tmp_path / "site.yaml"
    f.write_bytes(latin)
    assert load_signatures([], [f], PROVISIONS).errors == [f"{f}:3: not UTF-8 text (byte 30)"]
    feeds = tmp_path / "feeds"
    feeds.mkdir()
    (feeds / "x.yaml").write_bytes(latin)
    assert load_feeds([feeds]).errors == [f"{feeds / 'x.yaml'}:3: not UTF-8 text (byte 30)"]
    with pytest.raises(ConfigError) as e:
        load_provisions(f)
    assert str(e.value) == f"{f}:3: not UTF-8 text (byte 30)"
    with pytest.raises(ConfigError) as e:
        load_config(f)
    assert str(e.value) == f"{f}:3: not UTF-8 text (byte 30)"


def test_the_benign_set_is_one_line_when_broken_and_its_names_when_not(tmp_path: Path) -> None:
    """`signatures/benign.yaml` (read by `sensor signatures test`) was loaded without a guard:
    a broken one was a traceback after every signature's replays."""
    from sensor.sigtools import benign_captures

    f = tmp_path / "benign.yaml"
    f.write_text("captures: [x.pcap\n")
    line, problem = _problem(f.read_text())
    with pytest.raises(ConfigError) as e:
        benign_captures(tmp_path, None)
    assert str(e.value) == f"{f}:{line}: invalid YAML: {problem}"
    for text in ("captures: x.pcap\n", "captures: [{a: 1}]\n", "- x.pcap\n"):
        f.write_text(text)
        with pytest.raises(ConfigError) as e:
            benign_captures(tmp_path, None)
        assert str(e.value) == f"{f}: `captures:` must be a list of capture names"
    f.write_bytes(b"captures: [caf\xe9.pcap]\n")
    with pytest.raises(ConfigError) as e:
        benign_captures(tmp_path, None)
    assert str(e.value) == f"{f}:1: not UTF-8 text (byte 14)"
    f.write_text("captures: [pcaps/a.pcap]\n")
    assert benign_captures(tmp_path, None) == [
        ("pcaps/a.pcap", (tmp_path.parent / "pcaps/a.pcap").resolve())
    ]
