"""An INSERT written once, in two forms: one row of ``?`` values (``executemany``; SQLite, in
its thread, has no round trips to save) and every row at once from one array per column
(PostgreSQL: ``SELECT ... FROM unnest($1::type[], ...)``, one round trip for any number of
rows, usable as a data-modifying CTE so several tables go in one statement)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Insert:
    table: str
    #: "name type, ..." (PostgreSQL array element types)
    columns: str
    #: what follows the rows (``ON CONFLICT ...``)
    tail: str = ""

    @property
    def names(self) -> list[str]:
        return [c.split()[0] for c in self.columns.split(",")]

    @property
    def types(self) -> list[str]:
        return [c.split()[1] for c in self.columns.split(",")]

    def values(self, **exprs: str) -> str:
        """One row of ``?`` values; ``exprs``: SQL in place of some columns' values (rows
        then hold the other columns only, in order)."""
        marks = ", ".join(exprs.get(n, "?") for n in self.names)
        return f"INSERT INTO {self.table} ({', '.join(self.names)}) VALUES ({marks}){self.tail}"

    def arrays(self, first: int, **exprs: str) -> str:
        """Every row from arrays ``$first``, ``$first + 1``, ... (one per column not in
        ``exprs``)."""
        cols = [n for n in self.names if n not in exprs]
        typed = [t for n, t in zip(self.names, self.types, strict=True) if n not in exprs]
        arrays = ", ".join(f"${first + i}::{t}[]" for i, t in enumerate(typed))
        select = ", ".join(exprs.get(n, n) for n in self.names)
        return (
            f"INSERT INTO {self.table} ({', '.join(self.names)}) "
            f"SELECT {select} FROM unnest({arrays}) AS rows ({', '.join(cols)}){self.tail}"
        )
