"""Load exercise rules from a YAML file into a ``RuleSet``.

The file is composed, never constructed: PyYAML builds the node tree and this module walks
it, so every key and value keeps its line and column, and tags such as ``!!python/object``
stay inert text. Anchors and aliases are refused outright (no billion-laughs expansion) and
nesting is bounded (no recursion blow-up). Scalars are read from their source text, so
``min_itm: 0.05`` is ``Decimal("0.05")`` exactly and ``root: ON`` is a ticker, not ``True``:
only ``true`` and ``false`` are booleans.

Every problem in the file is collected and raised together as one ``RulesError``, one line
each: ``rules.yaml:12:5: rules[2].set.min_itm: '0.0x' is not a decimal``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Sequence
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

import yaml
from yaml.composer import ComposerError
from yaml.reader import ReaderError

from exerciser.domain.book import Right
from exerciser.domain.policy import (
    POLICY_FIELDS,
    Action,
    Match,
    Policy,
    Rule,
    RuleSet,
    normalize_symbol,
)
from exerciser.errors import RulesError

FORMAT_VERSION = 1
MAX_CHARS = 1_000_000  # a rules file is a page or two; refuse anything absurd up front
MAX_DEPTH = 20  # the format needs 4 levels; deeper input is refused before it can recurse

_TOP_KEYS = ("version", "defaults", "rules")
_RULE_KEYS = ("match", "set", "action", "quantity")
_MATCH_KEYS = ("account", "root", "underlying", "symbol", "instrument_id", "right")

_NULL = "tag:yaml.org,2002:null"
_BOOL = "tag:yaml.org,2002:bool"
_INT = "tag:yaml.org,2002:int"
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")  # ASCII digits, no exponent
_WHOLE = re.compile(r"\+?[0-9]+")
_MAX_DIGITS = 18
_NON_FINITE = frozenset({"nan", "snan", "inf", "infinity"})
_OSI = re.compile(r"[A-Z0-9.]{1,6}[0-9]{6}[CP][0-9]{8}")
_RIGHTS = {"C": Right.CALL, "CALL": Right.CALL, "P": Right.PUT, "PUT": Right.PUT}
_LINE_BREAK = re.compile("\r\n|[\n\r\x85\u2028\u2029]")  # what PyYAML counts as a new line

_E = TypeVar("_E", bound=StrEnum)


def load_rules(path: Path) -> RuleSet:
    """Read and check a rules file; ``Rule.source`` and problems name it by ``path.name``."""
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_CHARS * 4 + 1)  # bounded: /dev/zero must not hang us
    except OSError as error:
        raise RulesError([f"{path.name}: cannot read {path}: {error.strerror}"]) from error
    if len(data) > MAX_CHARS * 4:
        raise RulesError([f"{path.name}: the file is too large (over {MAX_CHARS} characters)"])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise RulesError(
            [f"{path.name}:{line}: not UTF-8 text (byte {data[error.start]:#04x})"]
        ) from error
    return parse_rules(text, source=path.name)


def parse_rules(text: str, *, source: str) -> RuleSet:
    """Check ``text`` as a rules file named ``source``; raise ``RulesError`` with every problem."""
    if len(text) > MAX_CHARS:
        raise RulesError([f"{source}: the file is too large (over {MAX_CHARS} characters)"])
    try:
        root = yaml.compose(text, Loader=_Composer)
    except yaml.YAMLError as error:
        raise RulesError([_yaml_problem(source, text, error)]) from error
    if root is None:
        raise RulesError([f"{source}:1:1: the file is empty (it needs at least 'version: 1')"])
    walker = _Walker(source)
    rules = walker.document(root)
    if walker.problems or rules is None:
        raise RulesError(walker.problems)
    return rules


class _Refused(ComposerError):
    """Valid YAML this format does not accept (anchors, aliases, deep nesting)."""


class _Composer(yaml.SafeLoader):
    """Composes nodes only; refuses anchors and aliases and bounds the nesting depth."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]  # untyped in the stubs
        mark = event.start_mark if isinstance(event.start_mark, yaml.Mark) else None
        if isinstance(event, yaml.NodeEvent) and event.anchor is not None:
            refused = "anchors and aliases (&name, *name) are not supported"
            raise _Refused(None, None, refused, mark)
        if self._depth >= MAX_DEPTH:
            raise _Refused(None, None, f"nested deeper than {MAX_DEPTH} levels", mark)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _implicit_resolvers() -> dict[Any, list[tuple[str, re.Pattern[str]]]]:
    """SafeLoader's resolvers minus floats, dates, merge keys and yes/no/on/off booleans."""
    true_false = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
    return {
        first: [(tag, rx) for tag, rx in resolvers if tag in (_NULL, _INT)]
        + ([(_BOOL, true_false)] if first in ("t", "T", "f", "F") else [])
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }


_Composer.yaml_implicit_resolvers = _implicit_resolvers()


def _yaml_problem(source: str, text: str, error: yaml.YAMLError) -> str:
    where, why = f"{source}:", str(error)
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        if mark is not None:
            where = f"{source}:{mark.line + 1}:{mark.column + 1}:"
        context, start = error.context, error.context_mark
        if context and start is not None and start is not mark:
            context += f" (started at {start.line + 1}:{start.column + 1})"
        why = "; ".join(part for part in (context, error.problem) if part)
        if not isinstance(error, _Refused):
            why = f"invalid YAML: {why}"
    elif isinstance(error, ReaderError) and isinstance(error.position, int):
        character = error.character if isinstance(error.character, int) else 0
        before = text[: error.position]
        breaks = list(_LINE_BREAK.finditer(before))
        column = error.position - (breaks[-1].end() if breaks else 0)
        where = f"{source}:{len(breaks) + 1}:{column + 1}:"
        why = f"invalid YAML: character #x{character:04x} is not allowed"
    return f"{where} {_clip(' '.join(why.split()), 200)}"


class _Walker:
    """Walks the node tree; records a problem and carries on wherever a value is wrong."""

    def __init__(self, source: str) -> None:
        self.source = source
        self._found: list[tuple[int, int, str]] = []

    @property
    def problems(self) -> list[str]:
        """In the order they appear in the file."""
        return [text for _, _, text in sorted(self._found, key=lambda found: found[:2])]

    def fail(self, node: yaml.Node, path: str, why: str) -> None:
        line, column = node.start_mark.line + 1, node.start_mark.column + 1
        where = f"{self.source}:{line}:{column}:"
        self._found.append((line, column, f"{where} {path}: {why}" if path else f"{where} {why}"))

    def document(self, root: yaml.Node) -> RuleSet | None:
        if not isinstance(root, yaml.MappingNode):
            self.fail(root, "", f"the top level must be a mapping, got {_show(root)}")
            return None
        fields = self.mapping(root, "", _TOP_KEYS)
        if "version" not in fields:
            self.fail(root, "version", "missing (the file must start with 'version: 1')")
        elif _scalar_text(fields["version"]) != str(FORMAT_VERSION):
            shown = _show(fields["version"])
            self.fail(fields["version"], "version", f"{shown} is not supported (only 1)")
        defaults = self.policy(fields["defaults"], "defaults") if "defaults" in fields else {}
        rules = self.rules(fields["rules"]) if "rules" in fields else ()
        return RuleSet(defaults=Policy().with_overrides(defaults), rules=rules)

    def mapping(self, node: yaml.Node, path: str, allowed: Sequence[str]) -> dict[str, yaml.Node]:
        """The known keys of a mapping; reports non-mappings, unknown and duplicate keys."""
        if not isinstance(node, yaml.MappingNode):
            self.fail(node, path, f"expected a mapping, got {_show(node)}")
            return {}
        found: dict[str, yaml.Node] = {}
        seen: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.fail(key_node, path, f"a key must be a plain word, got {_show(key_node)}")
                continue
            key = str(key_node.value)
            where = f"{path}.{_key(key)}" if path else _key(key)
            if key in seen:
                first = seen[key].start_mark.line + 1
                self.fail(key_node, where, f"duplicate key (first given on line {first})")
            elif key not in allowed:
                self.fail(key_node, where, f"unknown key{_suggest(key, allowed)}")
            else:
                found[key] = value_node
            seen.setdefault(key, key_node)
        return found

    def policy(self, node: yaml.Node, path: str) -> dict[str, Any]:
        if _is_null(node) and path == "defaults":
            return {}  # `defaults:` with every key commented out
        values: dict[str, Any] = {}
        for name, value_node in self.mapping(node, path, tuple(POLICY_FIELDS)).items():
            value = self.policy_value(value_node, f"{path}.{name}", POLICY_FIELDS[name])
            if value is not None:
                values[name] = value
        return values

    def policy_value(self, node: yaml.Node, path: str, kind: type) -> Any:
        if kind is Decimal:
            return self.decimal(node, path)
        if kind is bool:
            return self.boolean(node, path)
        if issubclass(kind, StrEnum):
            return self.choice(node, path, kind)
        raise TypeError(f"no reader for policy field type {kind!r}")  # a new Policy field type

    def rules(self, node: yaml.Node) -> tuple[Rule, ...]:
        if _is_null(node):
            return ()  # `rules:` with every rule commented out
        if not isinstance(node, yaml.SequenceNode):
            self.fail(node, "rules", f"expected a list of rules, got {_show(node)}")
            return ()
        rules = (self.rule(item, f"rules[{i}]") for i, item in enumerate(node.value))
        return tuple(rule for rule in rules if rule is not None)

    def rule(self, node: yaml.Node, path: str) -> Rule | None:
        before = len(self._found)
        fields = self.mapping(node, path, _RULE_KEYS)
        if not isinstance(node, yaml.MappingNode):
            return None
        keys_ok = len(self._found) == before  # no unknown keys: "does nothing" is then news
        match = Match()
        if "match" in fields:
            match = self.match(fields["match"], f"{path}.match")
        else:
            self.fail(node, path, "missing key 'match' (write match: {} to match every position)")
        overrides, action, quantity = {}, None, None
        if "set" in fields:
            overrides = self.policy(fields["set"], f"{path}.set")
        if "action" in fields:
            action = self.choice(fields["action"], f"{path}.action", Action)
        if "quantity" in fields:
            quantity = self.whole(fields["quantity"], f"{path}.quantity")
        sets = "set" in fields and not _is_empty_mapping(fields["set"])
        if keys_ok and not (sets or "action" in fields or "quantity" in fields):
            self.fail(node, path, "the rule does nothing (give it set, action or quantity)")
        if len(self._found) > before:
            return None
        return Rule(
            match=match,
            set=overrides,
            action=action,
            quantity=None if quantity is None else Decimal(quantity),
            source=f"{self.source}:{node.start_mark.line + 1}",
        )

    def match(self, node: yaml.Node, path: str) -> Match:
        if _is_null(node):
            self.fail(node, path, "no value (write match: {} to match every position)")
            return Match()
        fields = self.mapping(node, path, _MATCH_KEYS)
        given = {key: fields[key] for key in _MATCH_KEYS if key in fields}
        found: dict[str, Any] = {}
        for key, value_node in given.items():
            where = f"{path}.{key}"
            if key == "account":
                found[key] = self.whole(value_node, where)
            elif key == "right":
                found[key] = self.right(value_node, where)
            elif key == "symbol":
                found[key] = self.symbol(value_node, where)
            else:
                found[key] = self.word(value_node, where)
        symbol, right = found.get("symbol"), found.get("right")
        if symbol is not None and right is not None and _symbol_right(symbol) is not right:
            shown = _show(given["right"])
            why = f"{shown} contradicts the symbol {symbol!r} (the rule could never match)"
            self.fail(given["right"], f"{path}.right", why)
        return Match(**{key: value for key, value in found.items() if value is not None})

    # --- scalars: each returns None after recording a problem -------------------------

    def text(self, node: yaml.Node, path: str, what: str) -> str | None:
        if not isinstance(node, yaml.ScalarNode):
            self.fail(node, path, f"expected {what}, got {_show(node)}")
            return None
        if _is_null(node):
            self.fail(node, path, f"no value (expected {what})")
            return None
        return str(node.value).strip()

    def decimal(self, node: yaml.Node, path: str) -> Decimal | None:
        text = self.text(node, path, "a decimal")
        if text is None:
            return None
        if not _DECIMAL.fullmatch(text):
            finite = text.lower().lstrip("+-").lstrip(".") not in _NON_FINITE
            self.fail(node, path, f"{_show(node)} is not a {'' if finite else 'finite '}decimal")
            return None
        value = Decimal(text)
        if value < 0:
            self.fail(node, path, f"{_show(node)} must not be negative")
            return None
        return value.copy_abs()  # "-0" reads as 0

    def boolean(self, node: yaml.Node, path: str) -> bool | None:
        text = self.text(node, path, "true or false")
        if text is None:
            return None
        if node.tag == _BOOL and text.lower() in ("true", "false"):
            return text.lower() == "true"
        if text.lower() in ("true", "false"):
            self.fail(node, path, f"{_show(node)} is a string, not a boolean (drop the quotes)")
        else:
            self.fail(node, path, f"{_show(node)} is not a boolean (write true or false)")
        return None

    def choice(self, node: yaml.Node, path: str, kind: type[_E]) -> _E | None:
        allowed = " | ".join(member.value for member in kind)
        text = self.text(node, path, f"one of {allowed}")
        if text is None:
            return None
        try:
            return kind(text.lower())
        except ValueError:
            self.fail(node, path, f"{_show(node)} is not one of {allowed}")
            return None

    def whole(self, node: yaml.Node, path: str) -> int | None:
        text = self.text(node, path, "a positive whole number")
        if text is None:
            return None
        digits = text.lstrip("+").lstrip("0")
        if not _WHOLE.fullmatch(text) or not digits:
            self.fail(node, path, f"{_show(node)} is not a positive whole number")
            return None
        if len(digits) > _MAX_DIGITS:
            self.fail(node, path, f"{_show(node)} is too large")
            return None
        return int(digits)

    def right(self, node: yaml.Node, path: str) -> Right | None:
        text = self.text(node, path, "C or P")
        if text is None:
            return None
        right = _RIGHTS.get(text.upper())
        if right is None:
            self.fail(node, path, f"{_show(node)} is not a right (write C or P)")
        return right

    def symbol(self, node: yaml.Node, path: str) -> str | None:
        text = self.text(node, path, "an OSI option symbol")
        if text is None:
            return None
        if not _OSI.fullmatch(normalize_symbol(text)):
            example = "'AAPL  261218C00190000'"
            self.fail(node, path, f"{_show(node)} is not an OSI option symbol (like {example})")
            return None
        return text

    def word(self, node: yaml.Node, path: str) -> str | None:
        text = self.text(node, path, "a name")
        if not text:
            if text is not None:
                self.fail(node, path, "must not be empty")
            return None
        return text


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == _NULL


def _is_empty_mapping(node: yaml.Node) -> bool:
    return isinstance(node, yaml.MappingNode) and not node.value


def _scalar_text(node: yaml.Node) -> str | None:
    if isinstance(node, yaml.ScalarNode) and not _is_null(node):
        return str(node.value).strip()
    return None


def _symbol_right(symbol: str) -> Right:
    return Right.CALL if normalize_symbol(symbol)[-9] == "C" else Right.PUT


def _show(node: yaml.Node) -> str:
    """The value as the user wrote it, clipped to one short line."""
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if _is_null(node):
        return "null"
    return _clip(repr(str(node.value)), 60)


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]{1,40}", key) else _clip(repr(key), 40)


def _suggest(key: str, allowed: Collection[str]) -> str:
    close = difflib.get_close_matches(key[:100].lower(), allowed, n=1)
    if close:
        return f" (did you mean {close[0]!r}?)"
    return f" (expected one of: {', '.join(allowed)})"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
