"""Reading the agent's YAML configuration with the line of every value kept.

A gateway is configured by people on site, often by editing a file over a
serial console, so a refusal must say where: ``agent.yaml line 42:
buses[1].meters[3].points[0].interval: 7200 s is slower than ...``. PyYAML's
composer keeps a mark on every node; :class:`Section` carries those marks next
to the values and every accessor raises :class:`~ems_edge.errors.ConfigError`
naming the file, the line and the dotted path of the field.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

from ems_edge.errors import ConfigError

E = TypeVar("E")

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|min|h|d)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "min": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


@dataclass(frozen=True, slots=True)
class Place:
    """Where a value sits: the file, its 1-based line and its dotted path."""

    source: str
    line: int
    path: str

    def child(self, key: str | int, line: int) -> Place:
        """The place of ``key`` (a mapping key or a list index) under this one."""
        if isinstance(key, int):
            path = f"{self.path}[{key}]"
        else:
            path = f"{self.path}.{key}" if self.path else key
        return Place(self.source, line, path)

    def error(self, message: str) -> ConfigError:
        """A :class:`ConfigError` that names this place."""
        where = f"{self.source} line {self.line}"
        return ConfigError(
            f"{where}: {self.path}: {message}" if self.path else f"{where}: {message}"
        )


def _plain(node: yaml.Node, place: Place) -> Any:
    """A YAML node as Python data, refusing anything but scalars, lists and string-keyed maps."""
    if isinstance(node, yaml.ScalarNode):
        try:
            return yaml.safe_load(yaml.serialize(node))
        except (yaml.YAMLError, ValueError):  # an explicit tag: !foo x, !!int abc
            raise place.error(f"{node.tag} {node.value!r} is not a plain YAML value") from None
    if isinstance(node, yaml.SequenceNode):
        return [_plain(item, place) for item in node.value]
    if isinstance(node, yaml.MappingNode):
        return {str(k.value): _plain(v, place) for k, v in node.value}
    raise place.error("unsupported YAML construct")


class Section:
    """A YAML mapping with typed accessors that name the place; :meth:`done` refuses extra keys."""

    def __init__(self, node: yaml.MappingNode, place: Place) -> None:
        self.place = place
        self._nodes: dict[str, yaml.Node] = {}
        self._lines: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in self._nodes:
                raise place.child(key, line).error("given twice")
            self._nodes[key] = value_node
            self._lines[key] = line
        self._used: set[str] = set()

    def __contains__(self, key: str) -> bool:
        return key in self._nodes

    def keys(self) -> list[str]:
        """The keys present, in file order."""
        return list(self._nodes)

    def where(self, key: str) -> Place:
        """The place of ``key`` (the section's own place if the key is absent)."""
        if key in self._nodes:
            return self.place.child(key, self._lines[key])
        return self.place.child(key, self.place.line)

    def raw(self, key: str, default: Any = ...) -> Any:
        """The plain value of ``key``; without a default a missing key is an error."""
        self._used.add(key)
        if key not in self._nodes:
            if default is ...:
                raise self.place.error(f"'{key}' is required")
            return default
        return _plain(self._nodes[key], self.where(key))

    def string(self, key: str, default: str | Any | None = ..., pattern: str | None = None) -> Any:
        """A non-empty string, optionally matching ``pattern`` (a regular expression)."""
        value = self.raw(key, default)
        if key not in self._nodes:
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            raise self.where(key).error(f"must be a non-empty string, not {value!r}")
        if pattern is not None and not re.fullmatch(pattern, value):
            raise self.where(key).error(f"{value!r} does not match {pattern}")
        return value

    def integer(
        self,
        key: str,
        default: int | Any | None = ...,
        *,
        low: int | None = None,
        high: int | None = None,
    ) -> Any:
        """An integer within ``[low, high]``."""
        value = self.raw(key, default)
        if key not in self._nodes:
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.where(key).error(f"must be an integer, not {value!r}")
        self._check_range(key, value, low, high)
        return value

    def number(
        self,
        key: str,
        default: float | Any | None = ...,
        *,
        low: float | None = None,
        high: float | None = None,
    ) -> Any:
        """A real number within ``[low, high]``."""
        value = self.raw(key, default)
        if key not in self._nodes:
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.where(key).error(f"must be a number, not {value!r}")
        if not math.isfinite(value):
            raise self.where(key).error(f"must be a finite number, not {value!r}")
        self._check_range(key, value, low, high)
        return float(value)

    def boolean(self, key: str, default: bool | Any = ...) -> Any:
        """``true`` or ``false``."""
        value = self.raw(key, default)
        if key in self._nodes and not isinstance(value, bool):
            raise self.where(key).error(f"must be true or false, not {value!r}")
        return value

    def duration(
        self,
        key: str,
        default: float | Any | None = ...,
        *,
        low: float | None = None,
        high: float | None = None,
    ) -> Any:
        """Seconds, written as a number of seconds or with a unit: ``500ms``, ``30s``, ``15min``."""
        value = self.raw(key, default)
        if key not in self._nodes:
            return value
        match = _DURATION.match(str(value)) if not isinstance(value, bool) else None
        if match is None:
            raise self.where(key).error(f"{value!r} is not a duration such as 60s, 15min or 1h")
        seconds = float(match[1]) * _DURATION_UNITS[match[2]]
        self._check_range(key, seconds, low, high, unit=" s")
        return seconds

    def choice(self, key: str, choices: Sequence[str], default: str | Any | None = ...) -> Any:
        """One of ``choices``."""
        value = self.raw(key, default)
        if key in self._nodes and value not in choices:
            raise self.where(key).error(f"{value!r} is not one of {', '.join(choices)}")
        return value

    def section(self, key: str, *, optional: bool = False) -> Section | None:
        """The nested mapping at ``key``."""
        self._used.add(key)
        if key not in self._nodes:
            if optional:
                return None
            raise self.place.error(f"'{key}' is required")
        node = self._nodes[key]
        if not isinstance(node, yaml.MappingNode):
            raise self.where(key).error("must be a mapping of keys to values")
        return Section(node, self.where(key))

    def sections(self, key: str, *, optional: bool = False) -> list[Section]:
        """The list of mappings at ``key``."""
        self._used.add(key)
        if key not in self._nodes:
            if optional:
                return []
            raise self.place.error(f"'{key}' is required")
        node = self._nodes[key]
        if not isinstance(node, yaml.SequenceNode):
            raise self.where(key).error("must be a list")
        out = []
        for index, item in enumerate(node.value):
            place = self.where(key).child(index, item.start_mark.line + 1)
            if not isinstance(item, yaml.MappingNode):
                raise place.error("must be a mapping of keys to values")
            out.append(Section(item, place))
        return out

    def done(self) -> None:
        """Refuse keys nobody asked for: a misspelt key must not be silently ignored."""
        for key in self._nodes:
            if key not in self._used:
                raise self.where(key).error("unknown key")

    def _check_range(
        self, key: str, value: float, low: float | None, high: float | None, unit: str = ""
    ) -> None:
        if low is not None and value < low:
            raise self.where(key).error(f"{value:g}{unit} is below the minimum {low:g}{unit}")
        if high is not None and value > high:
            raise self.where(key).error(f"{value:g}{unit} is above the maximum {high:g}{unit}")

    def __iter__(self) -> Iterator[str]:
        return iter(self._nodes)


def parse_document(text: str, source: str) -> Section:
    """The top-level mapping of a YAML document; syntax errors name their line."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.reader.ReaderError as exc:  # a control character: it has a position, not a mark
        line = text.count("\n", 0, exc.position) + 1
        raise ConfigError(f"{source} line {line}: not valid YAML: {exc.reason}") from exc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else 0
        raise ConfigError(f"{source} line {line}: not valid YAML: {exc.problem}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from exc
    if node is None:
        raise ConfigError(f"{source}: the file is empty")
    if not isinstance(node, yaml.MappingNode):
        raise ConfigError(f"{source} line 1: the top level must be a mapping")
    return Section(node, Place(source, node.start_mark.line + 1, ""))


def read_document(path: Path) -> Section:
    """:func:`parse_document` on a file; unreadable or non-UTF-8 files are refused clearly."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: no such file") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror}") from exc
    return parse_document(text, str(path))
