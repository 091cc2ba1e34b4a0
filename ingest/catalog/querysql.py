"""Compile checked queries (``ingest.query``) to SQL over the index tables (``frameindex``).

A query is a set of *units*: ``(frame_row, unit)`` pairs for a frame or source query (one
SingleFrame of a stored frames row), ``(frame_row, unit, roi)`` triples for an ROI query. A
field term reads one index table through its index; AND is ``INTERSECT`` (``EXCEPT`` for its
NOT parts), OR is ``UNION``, a NOT alone is the version's units ``EXCEPT`` the term. A frame
(FrameGroup or SingleFrame) of the version matches when one of its units does
(``vf.frame_row IN (...)``). The same SQL runs on SQLite and PostgreSQL; wildcards become
``GLOB`` (SQLite) or ``LIKE`` (PostgreSQL), both case-sensitive like the equality. Every value
is a bound parameter."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import count
from typing import Any

from ..query import And, FrameFilter, Match, Node, Not, Or, Range
from .frameindex import GROUP

Sql = tuple[str, list[Any]]

_UNIT = "frame_row, unit"
_ROI = "frame_row, unit, roi"
#: the column of ``frame_units`` (aliased ``u``) of each unit field
_UNIT_COLUMNS = {
    "source.id": "u.name",
    "source.uri": "u.uri",
    "source.content_type": "u.content_type",
    "source.width": "u.width",
    "source.height": "u.height",
    "context_id": "u.context_id",
    "timestamp": "u.timestamp",
    "id": "f.id",
}
_IN_VERSION = "frame_row IN (SELECT frame_row FROM version_frames WHERE version_id = ?)"


def _glob(pattern: str) -> str:
    """A Lucene wildcard as a SQLite GLOB: ``[`` and ``]`` taken literally."""
    out = []
    escaped = False
    for char in pattern:
        if escaped:
            out.append(f"[{char}]" if char in "*?[]" else char)
            escaped = False
        elif char == "\\":
            escaped = True
        else:
            out.append({"[": "[[]", "]": "[]]"}.get(char, char))
    return "".join(out)


def _like(pattern: str) -> str:
    """A Lucene wildcard as a LIKE pattern with ``\\`` as its escape."""
    out = []
    escaped = False
    for char in pattern:
        if escaped:
            out.append("\\" + char if char in "%_\\" else char)
            escaped = False
        elif char == "\\":
            escaped = True
        else:
            out.append({"*": "%", "?": "_", "%": "\\%", "_": "\\_"}.get(char, char))
    return "".join(out)


class _Compiler:
    def __init__(self, dialect: str, version_id: str, bound: Sql | None = None) -> None:
        self.dialect = dialect
        self.version_id = version_id
        #: a condition every term's frames rows meet (``{col}``: the row column), if any
        self.bound = bound
        self.aliases = count()
        #: the SQL of single-term sets -> their correlated EXISTS on ``vf`` (``exists``)
        self.single: dict[str, Sql] = {}

    def text_test(self, column: str, term: Match) -> Sql:
        if not term.wildcard:
            return f"{column} = ?", [term.value]
        if self.dialect == "sqlite":
            return f"{column} GLOB ?", [_glob(term.value)]
        return f"{column} LIKE ? ESCAPE '\\'", [_like(term.value)]

    @staticmethod
    def range_test(column: str, term: Range) -> Sql:
        tests, args = [], []
        if term.low is not None:
            tests.append(f"{column} {'>=' if term.include_low else '>'} ?")
            args.append(term.low)
        if term.high is not None:
            tests.append(f"{column} {'<=' if term.include_high else '<'} ?")
            args.append(term.high)
        return " AND ".join(tests) or f"{column} IS NOT NULL", args

    def term(self, node: Match | Range, cols: str) -> Sql:
        """The units where one field term holds."""
        field = node.field
        if field in ("label", "confidence"):
            column = "label" if field == "label" else "confidence"
            if isinstance(node, Range):
                test, args = self.range_test(column, node)
            elif field == "confidence":
                test, args = f"{column} = ?", [node.number]
            else:
                test, args = self.text_test(column, node)
            return self.one(f"SELECT {cols} FROM frame_labels WHERE {test}", args, "frame_row")
        if field.startswith("meta."):
            return self.meta(field[5:], node)
        column = _UNIT_COLUMNS[field]
        if isinstance(node, Range):
            test, args = self.range_test(column, node)
        elif node.number is not None:
            test, args = f"{column} = ?", [node.number]
        else:
            test, args = self.text_test(column, node)
        join = " JOIN frames f ON f.row_id = u.frame_row" if field == "id" else ""
        sql = f"SELECT u.frame_row, u.unit FROM frame_units u{join} WHERE {test}"
        return self.one(sql, args, "u.frame_row")

    def meta(self, key: str, node: Match | Range) -> Sql:
        """A metadata term: ``frame_meta`` for text, ``frame_nums`` for numbers (``text`` there
        is read by wildcards only: a number's JSON text always parses as a number, so a text
        that does not is never one). A row under ``GROUP`` counts for each unit of its group."""
        parts: list[tuple[str, str, list[Any]]] = []
        if isinstance(node, Range):
            numeric = isinstance(node.low, float | int) or isinstance(node.high, float | int)
            table = "frame_nums" if numeric else "frame_meta"
            parts.append((table, *self.range_test(f"m.{'num' if numeric else 'text'}", node)))
        elif node.number is not None:
            parts += [
                ("frame_meta", "m.text = ?", [node.value]),
                ("frame_nums", "m.num = ?", [node.number]),
            ]
        else:
            tables = ("frame_meta", "frame_nums") if node.wildcard else ("frame_meta",)
            parts += [(table, *self.text_test("m.text", node)) for table in tables]
        sets = []
        for table, test, args in parts:
            # a unit's own rows, then its group's (CROSS JOIN: SQLite reads the term's rows
            # first, then the units of each group's frames row by key)
            own = f"SELECT m.frame_row, m.unit FROM {table} m WHERE m.key = ? AND m.unit >= 0"
            group = (
                f"SELECT u.frame_row, u.unit FROM {table} m CROSS JOIN frame_units u "
                f"WHERE m.key = ? AND m.unit = {GROUP} AND u.frame_row = m.frame_row"
            )
            sets += [self.bounded(f"{sql} AND {test}", [key, *args], "m.frame_row")
                     for sql in (own, group)]  # fmt: skip
        out = sets[0]
        for part in sets[1:]:
            out = self.combine("UNION", out, part, _UNIT)
        self.single[out[0]] = self.exists(sets, "m.frame_row")
        return out

    def one(self, sql: str, args: list[Any], row_column: str) -> Sql:
        sql, args = self.bounded(sql, args, row_column)
        self.single[sql] = self.exists([(sql, args)], row_column)
        return sql, args

    @staticmethod
    def exists(sets: list[Sql], row_column: str) -> Sql:
        """The condition on ``vf`` that one of ``sets`` (a term's) holds for its frames row:
        an index probe each."""
        tests = [f"EXISTS ({sql} AND {row_column} = vf.frame_row)" for sql, _ in sets]
        return f"({' OR '.join(tests)})", [arg for _, args in sets for arg in args]

    def bounded(self, sql: str, args: list[Any], row_column: str = "frame_row") -> Sql:
        """``sql`` (ending in its WHERE) limited to the compiler's frames rows, if any: a
        bound in each term keeps its index range short (the planners do not push a bound
        on a compound query's result into its arms)."""
        if self.bound is None:
            return sql, args
        return f"{sql} AND {self.bound[0].format(col=row_column)}", [*args, *self.bound[1]]

    def universe(self, cols: str) -> Sql:
        table = "frame_labels" if cols == _ROI else "frame_units"
        sql = f"SELECT {cols} FROM {table} WHERE {_IN_VERSION}"
        return self.bounded(sql, [self.version_id])

    def combine(self, op: str, left: Sql, right: Sql, cols: str) -> Sql:
        a, b = next(self.aliases), next(self.aliases)
        return (
            f"SELECT {cols} FROM ({left[0]}) AS s{a} {op} SELECT {cols} FROM ({right[0]}) AS s{b}",
            left[1] + right[1],
        )

    def node(self, node: Node, cols: str) -> Sql:
        if isinstance(node, Match | Range):
            return self.term(node, cols)
        if isinstance(node, Or):
            parts = [self.node(item, cols) for item in node.items]
            out = parts[0]
            for part in parts[1:]:
                out = self.combine("UNION", out, part, cols)
            return out
        items = node.items if isinstance(node, And) else (node,)
        positive = [self.node(i, cols) for i in items if not isinstance(i, Not)]
        negative = [self.node(i.item, cols) for i in items if isinstance(i, Not)]
        out = positive[0] if positive else self.universe(cols)
        for part in positive[1:]:
            out = self.combine("INTERSECT", out, part, cols)
        for part in negative:
            out = self.combine("EXCEPT", out, part, cols)
        return out

    def rois(self, rule: FrameFilter) -> Sql:
        """The units (with their ROI) matching the ROI rule, its confidence and count bounds."""
        roi = self.node(rule.roi, _ROI) if rule.roi is not None else self.universe(_ROI)
        if rule.conf_range:
            low, high = rule.conf_range
            sure = self.range_test("confidence", Range("confidence", low, high))
            where = self.bounded(f"SELECT {_ROI} FROM frame_labels WHERE {sure[0]}", sure[1])
            roi = self.combine("INTERSECT", roi, where, _ROI)
        if rule.count_range is None:  # at least one ROI: the set itself
            return roi
        low, high = rule.count_range
        a = next(self.aliases)
        grouped = f"SELECT {_UNIT} FROM (SELECT DISTINCT {_ROI} FROM ({roi[0]}) AS s{a}) AS c{a}"
        if low is not None and low >= 1:
            having = ["COUNT(*) >= ?"] + (["COUNT(*) <= ?"] if high is not None else [])
            bounds = [low] + ([high] if high is not None else [])
            sql = f"{grouped} GROUP BY {_UNIT} HAVING {' AND '.join(having)}"
            return sql, roi[1] + bounds
        if high is None:  # at least zero, at most anything: every unit
            return self.universe(_UNIT)
        too_many = f"{grouped} GROUP BY {_UNIT} HAVING COUNT(*) > ?", [*roi[1], high]
        return self.combine("EXCEPT", self.universe(_UNIT), too_many, _UNIT)

    def units(self, rule: FrameFilter) -> Sql | None:
        """The units one filter selects (None: every frame)."""
        parts = []
        if rule.roi is not None or rule.conf_range or rule.count_range:
            parts.append(self.rois(rule))
        parts += [self.node(n, _UNIT) for n in (rule.frame, rule.source) if n is not None]
        if not parts:
            return None
        out = parts[0]
        for part in parts[1:]:
            out = self.combine("INTERSECT", out, part, _UNIT)
        return out

    def rule(self, rule: FrameFilter, ordered: bool) -> Sql | None:
        """The condition on ``vf`` of one filter. ``ordered`` (a page in sort order): a single
        term is a correlated EXISTS (an index probe per row walked in order); anything else
        an IN over the materialised set (SQLite: ``+`` keeps the walk on the order index)."""
        out = self.units(rule)
        if out is None:
            return None
        correlated = self.single.get(out[0])
        if ordered and correlated is not None:
            return correlated
        a = next(self.aliases)
        walk = "+" if ordered and self.dialect == "sqlite" else ""
        return f"{walk}vf.frame_row IN (SELECT frame_row FROM ({out[0]}) AS q{a})", out[1]


def filters_sql(
    dialect: str,
    version_id: str,
    filters: Sequence[FrameFilter],
    *,
    ordered: bool = False,
    bound: Sql | None = None,
) -> Sql:
    """One condition over ``version_frames vf``: the frames any of ``filters`` matches.
    ``ordered``: for a page read in (context_id, timestamp, id) order (see ``rule``);
    ``bound``: a condition on the frames rows (``{col}``) each term reads (``rows_sql``)."""
    compiler = _Compiler(dialect, version_id, bound)
    conditions, args = [], []
    for rule in filters:
        compiled = compiler.rule(rule, ordered)
        if compiled is None:
            return "1 = 1", []
        conditions.append(f"({compiled[0]})")
        args += compiled[1]
    return (" OR ".join(conditions) or "1 = 0"), args


def rows_sql(
    dialect: str, version_id: str, filters: Sequence[FrameFilter], bound: Sql | None = None
) -> Sql | None:
    """The frames rows (``frame_row``) any of ``filters`` selects, in any version: the caller
    checks membership. None: every frame. For a single term, an index range in row order.
    ``bound``: a condition on the frames rows each term reads (``{col}``: its row column), so
    that a compound query reads only part of each term's index range.
    """
    compiler = _Compiler(dialect, version_id, bound)
    sets = []
    for rule in filters:
        units = compiler.units(rule)
        if units is None:
            return None
        sets.append(units)
    out = sets[0]
    for part in sets[1:]:
        out = compiler.combine("UNION", out, part, "frame_row")
    return out


def materialises(dialect: str, version_id: str, filters: Sequence[FrameFilter]) -> bool:
    """Whether an ordered page of ``filters`` reads a materialised set of matches (a query
    of more than one term) rather than one index probe per frame walked in order."""
    compiler = _Compiler(dialect, version_id)
    for rule in filters:
        units = compiler.units(rule)
        if units is None:
            return False
        if units[0] not in compiler.single:
            return True
    return False
