"""The query language of DataView, REST ``q=``, the web browser and ``ingest query``: Lucene.

Parsed with ``luqum`` (a maintained Lucene parser), then checked here into a small tree the
catalog compiles to SQL (``catalog/querysql.py``). Pure: no I/O.

Fields (the reference's names, plus ``context_id``, ``timestamp`` and ``id``):

- ``label`` / ``label.keyword``: an ROI (or frame label) has this label (a bare word is a label);
- ``confidence``: an ROI's confidence (number, ranges);
- ``meta.KEY`` (``KEY`` may hold dots): a metadata value (group's or frame's) whose text is the
  value (strings as is, numbers, ``true`` / ``false``); numeric and text (ISO date) ranges;
- ``source.id`` (the frame's name in its group), ``source.uri``, ``source.content_type``,
  ``source.width``, ``source.height`` (``sources.*`` is the same);
- ``context_id``, ``timestamp`` (seconds; ranges also take ISO dates, UTC unless they say),
  ``id`` (the FrameGroup's or SingleFrame's id).

AND / OR / NOT (``+``, ``-``), parentheses, ``"phrases"``, wildcards ``*`` and ``?`` on text
fields, ranges ``[a TO b]``, ``{a TO b}``, ``>=a``, ``<b``. Words next to each other are AND-ed
(the reference's default operator). A bad query raises ``QueryError`` naming its column.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import luqum.tree as lt
from luqum.exceptions import IllegalCharacterError, ParseError
from luqum.parser import parser

from .errors import ValidationError

MAX_QUERY = 8192
NUMERIC = frozenset({"confidence", "timestamp", "source.width", "source.height"})
TEXT = frozenset({"label", "context_id", "id", "source.id", "source.uri", "source.content_type"})
#: fields an ROI query may use: they describe one ROI
ROI_FIELDS = frozenset({"label", "confidence"})
SYNTAX = (
    'label:car AND NOT label:"partly_occluded"  ·  meta.city:bremen  ·  confidence:[0.5 TO 1]  ·  '
    "source.id:front  ·  timestamp:>=2023-11-14  ·  context_id:drive-*"
)


class QueryError(ValidationError):
    """A query that cannot be parsed or uses an unknown field; ``column`` is 1-based."""

    def __init__(self, field: str, query: str, position: int, message: str) -> None:
        self.column = position + 1
        self.query = query
        super().__init__(field, f"column {self.column}: {message}")


@dataclass(frozen=True)
class Match:
    """``field:value``; ``wildcard``: value holds ``*`` / ``?``; numbers in ``number``."""

    field: str
    value: str
    wildcard: bool = False
    number: float | None = None


@dataclass(frozen=True)
class Range:
    field: str
    low: float | str | None
    high: float | str | None
    include_low: bool = True
    include_high: bool = True


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


Node = Match | Range | And | Or | Not


def parse_query(text: Any, *, field: str = "q", scope: str = "frame") -> Node:
    """The checked tree of a Lucene query; ``scope="roi"`` allows ROI fields only."""
    if not isinstance(text, str):
        raise ValidationError(field, f"must be a string, got {type(text).__name__}")
    if not text.strip():
        raise QueryError(field, text, 0, "the query is empty")
    if len(text) > MAX_QUERY:
        raise QueryError(field, text, MAX_QUERY, f"the query is over {MAX_QUERY} characters")
    if "\x00" in text:
        raise QueryError(field, text, text.index("\x00"), "NUL character")
    try:
        tree = parser.parse(text)
    except (ParseError, IllegalCharacterError) as exc:
        found = re.search(r"position (\d+)", str(exc))
        position = int(found.group(1)) if found else len(text)
        near = text[position : position + 12]
        what = f"unexpected {near!r}" if near else "unexpected end of query (unclosed bracket?)"
        raise QueryError(field, text, position, what) from None
    return _Checker(text, field, scope).node(tree, None)


def label_query(labels: Any, *, field: str = "roi_query") -> Node:
    """A ``roi_query`` given as one label or a list of labels one ROI must all have (exact)."""
    items = [labels] if isinstance(labels, str) else labels
    if not isinstance(items, list | tuple) or not items:
        raise ValidationError(field, "must be a label, a list of labels or a Lucene query")
    for label in items:
        if not isinstance(label, str) or not label or "\x00" in label:
            raise ValidationError(field, f"labels must be non-empty strings, got {label!r}")
    matches = tuple(Match("label", label) for label in items)
    return matches[0] if len(matches) == 1 else And(matches)


def roi_query_node(query: Any, *, field: str = "roi_query") -> Node:
    """``roi_query`` as the reference takes it: a list of labels, or a label / Lucene string."""
    if isinstance(query, list | tuple):
        return label_query(list(query), field=field)
    return parse_query(query, field=field, scope="roi")


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _date(text: str) -> float | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


class _Checker:
    def __init__(self, text: str, field: str, scope: str) -> None:
        self.text, self.field, self.scope = text, field, scope

    def fail(self, node: lt.Item, message: str) -> QueryError:
        return QueryError(self.field, self.text, getattr(node, "pos", None) or 0, message)

    def field_name(self, node: lt.SearchField) -> str:
        name = _unescape(node.name)
        name = name.removesuffix(".keyword")
        if name.startswith("sources."):
            name = "source." + name[len("sources.") :]
        ok = name in NUMERIC or name in TEXT or (name.startswith("meta.") and len(name) > 5)
        if not ok:
            raise self.fail(
                node,
                f"unknown field {node.name!r} (label, confidence, meta.KEY, source.id, "
                "source.uri, source.content_type, source.width, source.height, context_id, "
                "timestamp, id)",
            )
        if self.scope == "roi" and name not in ROI_FIELDS:
            raise self.fail(node, f"an ROI query takes label and confidence, not {name!r}")
        return name

    def node(self, node: lt.Item, field: str | None) -> Node:
        if isinstance(node, lt.SearchField):
            if field is not None:
                raise self.fail(node, "a field inside a field")
            return self.node(node.expr, self.field_name(node))
        if isinstance(node, lt.Group | lt.FieldGroup):
            return self.node(node.expr, field)
        if isinstance(node, lt.AndOperation | lt.UnknownOperation):
            return self.combine(node, field, And)
        if isinstance(node, lt.OrOperation):
            return self.combine(node, field, Or)
        if isinstance(node, lt.Not | lt.Prohibit):
            return Not(self.node(node.a, field))
        if isinstance(node, lt.Plus):
            return self.node(node.a, field)
        if isinstance(node, lt.Word | lt.Phrase):
            return self.match(node, field or "label")
        if isinstance(node, lt.Range):
            return self.range(node, field, node.low, node.high, node.include_low, node.include_high)
        if isinstance(node, lt.From):
            return self.range(node, field, node.a, None, node.include, True)
        if isinstance(node, lt.To):
            return self.range(node, field, None, node.a, True, node.include)
        kind = type(node).__name__.lower()
        raise self.fail(node, f"{kind} queries are not supported (use words, phrases, ranges)")

    def combine(self, node: lt.Item, field: str | None, kind: type[And] | type[Or]) -> Node:
        items: list[Node] = []
        for child in node.children:
            item = self.node(child, field)
            items += item.items if isinstance(item, kind) else [item]
        return kind(tuple(items))

    def match(self, node: lt.Word | lt.Phrase, field: str) -> Match:
        if isinstance(node, lt.Phrase):
            value, wildcard = _unescape(node.value[1:-1]), False
        else:
            raw = node.value
            wildcard = bool(re.search(r"(?<!\\)[*?]", raw))
            value = raw if wildcard else _unescape(raw)
        if field in NUMERIC:
            number = _number(value) if not wildcard else None
            if number is None and field == "timestamp" and not wildcard:
                number = _date(value)
            if number is None:
                raise self.fail(node, f"{field} takes a number, got {value!r}")
            return Match(field, value, False, number)
        if not value:
            raise self.fail(node, f"empty value for {field}")
        number = _number(value) if field.startswith("meta.") and not wildcard else None
        return Match(field, value, wildcard, number)

    def bound(self, node: lt.Item, field: str) -> float | str | None:
        if not isinstance(node, lt.Word | lt.Phrase):
            raise self.fail(node, "a range bound is a word or a phrase")
        raw = node.value[1:-1] if isinstance(node, lt.Phrase) else node.value
        if raw == "*" and isinstance(node, lt.Word):
            return None
        value = _unescape(raw)
        number = _number(value)
        if number is None and field == "timestamp":
            number = _date(value)
        if number is not None:
            return number
        if field in NUMERIC:
            raise self.fail(node, f"{field} ranges take numbers (or dates), got {value!r}")
        return value

    def range(
        self,
        node: lt.Item,
        field: str | None,
        low: lt.Item | None,
        high: lt.Item | None,
        include_low: bool,
        include_high: bool,
    ) -> Range:
        if field is None or field in ("label", "id", "source.id"):
            raise self.fail(node, "ranges need a numeric, date or meta field")
        lo = None if low is None else self.bound(low, field)
        hi = None if high is None else self.bound(high, field)
        if isinstance(lo, str) != isinstance(hi, str) and lo is not None and hi is not None:
            raise self.fail(node, "a range mixes a number and a text bound")
        return Range(field, lo, hi, include_low, include_high)


@dataclass(frozen=True)
class FrameFilter:
    """One frame filter (``DataView.add_query``): its rules are AND-ed; filters are OR-ed.

    ``roi``: a query over one ROI (label, confidence); ``count_range`` bounds how many ROIs of
    a SingleFrame match it, ``conf_range`` their confidence. ``frame`` and ``source``: queries
    over a SingleFrame. None: no rule (every frame matches).
    """

    roi: Node | None = None
    frame: Node | None = None
    source: Node | None = None
    count_range: tuple[int | None, int | None] | None = None
    conf_range: tuple[float | None, float | None] | None = None


def frame_filter(q: Any, *, field: str = "q") -> FrameFilter:
    """The filter of a single query string (REST ``q=``, the web box, ``ingest query``)."""
    return FrameFilter(frame=parse_query(q, field=field))
