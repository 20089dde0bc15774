"""YAML data files (site config, signatures, feeds, provisions), parsed by libyaml where
PyYAML was built with it.

Every start, reload and `sensor signatures check` reads about twenty of these files, and
PyYAML's pure-Python scanner and parser took 0.2-0.35 CPU s of each replay's start-up on them.
libyaml (`yaml.CSafeLoader`) does that part in C. Only scanning and parsing move: building
values, resolving tags and taking the last of duplicate keys stay PyYAML's Python code, and
libyaml's node start marks are PyYAML's (tests/unit/test_datafile.py compares every shipped
file), so values and the line numbers in messages do not change.

libyaml words its complaints differently (at times at another line) and has its own limits
(it refuses nesting deeper than 1,000 levels; PyYAML ran out of recursion earlier). So a text
the fast loader refuses in any way is parsed again by the pure-Python loader, whose value or
exception stands: a broken file costs two parses and reads exactly as before. What is left
is the other way round: libyaml accepts a few things YAML allows and PyYAML's scanner refused
(a tab inside or after a plain scalar or between flow items, `?` inside a plain scalar in a
flow collection, a byte-order mark within a document); the values then meet the same checks
as any other (`port: [9<TAB>95]` is "not a port" at its line). Without libyaml both loaders
are the pure-Python one.

A value PyYAML cannot build (`!!int abc`, a date `2026-13-45`, `!!bool maybe`, an integer
of 5,000 digits) raised ValueError, KeyError or AttributeError from inside PyYAML, which
every reader let through as a traceback. Both loaders here make it a ConstructorError at its
node, so it reads like any other YAML error: `file:line: invalid YAML: ...`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import yaml

__all__ = ["SAFE", "Loaders", "not_utf8"]

T = TypeVar("T")

_BUILD_ERRORS = (ValueError, TypeError, KeyError, AttributeError, OverflowError)


def _checked(base: type[Any]) -> type[Any]:
    """`base`, its values built so that a scalar PyYAML cannot build is a ConstructorError."""

    def construct_object(self: Any, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return base.construct_object(self, node, deep=deep)
        except _BUILD_ERRORS as e:
            what = repr(node.value)[:60] if isinstance(node, yaml.ScalarNode) else "this node"
            tag = str(node.tag).rsplit(":", 1)[-1]
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read {what} as {tag} ({e})"[:200], node.start_mark
            ) from None

    return type(f"Checked{base.__name__}", (base,), {"construct_object": construct_object})


@dataclass(frozen=True, slots=True)
class Loaders:
    """A loader class (`fast`) and the pure-Python one with the same constructors (`pure`),
    whose verdict counts whenever `fast` refuses a text."""

    fast: type[Any]
    pure: type[Any]

    def load(self, text: str) -> Any:
        """The single document in `text` as Python values (yaml.load)."""
        return self._first(yaml.load, text)

    def compose(self, text: str) -> yaml.Node | None:
        """The single document in `text` as nodes, with their marks (yaml.compose)."""
        node: yaml.Node | None = self._first(yaml.compose, text)
        return node

    def with_constructor(self, tag: str, fn: Callable[[Any, Any], Any]) -> Loaders:
        """Both loaders, subclassed to build nodes tagged `tag` with `fn(loader, node)`."""
        made = []
        for base in dict.fromkeys((self.fast, self.pure)):  # one class when they are one
            cls: type[Any] = type(f"{base.__name__}With", (base,), {})
            cls.add_constructor(tag, fn)
            made.append(cls)
        return Loaders(made[0], made[-1])

    def construct(self, node: yaml.Node) -> Any:
        """The value of one node (a config scalar), built by the pure-Python loader."""
        loader = self.pure("")
        try:
            return loader.construct_object(node, deep=True)
        finally:
            loader.dispose()

    def _first(self, parse: Callable[..., T], text: str) -> T:
        if self.fast is not self.pure:
            try:
                return parse(text, Loader=self.fast)
            except Exception:  # whatever fast refuses, pure decides: its value or its error
                pass
        return parse(text, Loader=self.pure)


def not_utf8(path: object, e: UnicodeDecodeError) -> str:
    """`path:line: not UTF-8 text (byte N)` for a data file that is not UTF-8, the config's
    words (a site file saved as Latin-1 is one error line, not a traceback)."""
    line = bytes(e.object[: e.start]).count(b"\n") + 1
    return f"{path}:{line}: not UTF-8 text (byte {e.start})"


def yaml_error(path: object, e: yaml.YAMLError) -> str:
    """`path:line: invalid YAML: problem`, one line, for a data file PyYAML refused (its own
    message spans lines and quotes the text back)."""
    mark = getattr(e, "problem_mark", None)
    where = f"{path}:{mark.line + 1}" if mark else str(path)
    return f"{where}: invalid YAML: {getattr(e, 'problem', e)}"


_PURE = _checked(yaml.SafeLoader)
SAFE = Loaders(_checked(yaml.CSafeLoader) if yaml.__with_libyaml__ else _PURE, _PURE)
"""yaml.safe_load and yaml.compose with SafeLoader, through libyaml when PyYAML has it."""
