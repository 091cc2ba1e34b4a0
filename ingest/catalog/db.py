"""A thin async database seam over sqlite3 (in a worker thread) and asyncpg (PostgreSQL).

SQL is written once with ``?`` placeholders; the PostgreSQL side rewrites them to ``$n``.
SQLite runs in one worker thread per database; driver errors are translated here into
``CatalogError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Any, Protocol, TypeVar
from urllib.parse import parse_qs, unquote, urlparse

from ..errors import CatalogError, ConfigError

Row = tuple[Any, ...]
T = TypeVar("T")


class Conn(Protocol):
    """What catalog code may do inside or outside a transaction."""

    dialect: str

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> int: ...

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...

    async def fetchall(self, sql: str, args: Sequence[Any] = ()) -> list[Row]: ...

    async def fetchone(self, sql: str, args: Sequence[Any] = ()) -> Row | None: ...


class Database(Conn, Protocol):
    url: str

    def transaction(self) -> contextlib.AbstractAsyncContextManager[Conn]: ...

    async def atomic(self, body: Callable[[Conn], Coroutine[Any, Any, T]]) -> T:
        """``await body(conn)`` in one transaction, like ``async with transaction()``, with
        the fewest round trips: on SQLite the whole of it (BEGIN ... COMMIT) is one call into
        the database thread, so ``body`` may await nothing but ``conn``'s methods."""
        ...

    async def close(self) -> None: ...


@lru_cache(maxsize=512)
def _to_dollar(sql: str) -> str:
    counter = iter(range(1, 10_000))
    return re.sub(r"\?", lambda _: f"${next(counter)}", sql)


# ---------------------------------------------------------------- SQLite


def _sqlite_error(exc: sqlite3.Error) -> CatalogError:
    # a busy or locked database may free up: transient
    transient = isinstance(exc, sqlite3.OperationalError) and (
        "locked" in str(exc) or "busy" in str(exc)
    )
    return CatalogError(f"SQLite: {exc}", transient=transient)


class _SqliteConn:
    """Runs statements on one sqlite3 connection in one dedicated worker thread."""

    dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection, executor: ThreadPoolExecutor) -> None:
        self._conn = conn
        self._executor = executor

    async def _call(self, fn: Any, *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, fn, *args)
        except sqlite3.Error as exc:
            raise _sqlite_error(exc) from exc

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        return await self._call(lambda: self._conn.execute(sql, tuple(args)).rowcount)  # type: ignore[no-any-return]

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self._call(self._conn.executemany, sql, rows)

    async def fetchall(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        return await self._call(lambda: self._conn.execute(sql, tuple(args)).fetchall())  # type: ignore[no-any-return]

    async def fetchone(self, sql: str, args: Sequence[Any] = ()) -> Row | None:
        return await self._call(lambda: self._conn.execute(sql, tuple(args)).fetchone())  # type: ignore[no-any-return]


class _ThreadConn(_SqliteConn):
    """Inside the database thread (``SqliteDatabase.atomic``): each statement runs at once,
    so a coroutine awaiting only these methods finishes without ever suspending."""

    async def _call(self, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except sqlite3.Error as exc:
            raise _sqlite_error(exc) from exc


def _run_through(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends to its end, with no event loop (one ``send``).

    Hand-written because the catalog's transactions are async code shared with PostgreSQL;
    with ``_ThreadConn`` the same code (same SQL) runs in SQLite's thread in one call, where
    an event loop of its own would cost a loop per commit and hang on a real suspension.
    """
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coro.close()  # its finally blocks run; the caller's thread function rolls back
    raise CatalogError("a SQLite transaction body awaited something other than the database")


class SqliteDatabase(_SqliteConn):
    """One connection in WAL mode; an asyncio lock serialises statements and transactions.

    Several processes may share the file (WAL + busy timeout); write transactions start with
    ``BEGIN IMMEDIATE`` so they queue instead of failing on lock upgrade.
    """

    def __init__(self, url: str, conn: sqlite3.Connection, executor: ThreadPoolExecutor) -> None:
        super().__init__(conn, executor)
        self.url = url
        self._lock = asyncio.Lock()

    @classmethod
    async def connect(cls, url: str, path: str, cache_mb: int = 64) -> SqliteDatabase:
        def open_db() -> sqlite3.Connection:
            if path != ":memory:":
                os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            conn = sqlite3.connect(path, isolation_level=None, timeout=60, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            # 64 MiB of page cache by default (SQLite's is 2 MiB): the hash-keyed indexes of a
            # large version are written at random places, and each miss is a read back from
            # the OS; ``?cache_mb=N`` on the URL sets it
            conn.execute(f"PRAGMA cache_size=-{cache_mb * 1024}")
            conn.execute("PRAGMA foreign_keys=ON")
            return conn

        executor = ThreadPoolExecutor(1, thread_name_prefix="ingest-sqlite")
        try:
            conn = await asyncio.get_running_loop().run_in_executor(executor, open_db)
        except (sqlite3.Error, OSError) as exc:
            executor.shutdown(wait=False)
            raise CatalogError(f"cannot open SQLite catalog {path}: {exc}") from exc
        return cls(url, conn, executor)

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        async with self._lock:
            return await super().execute(sql, args)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        async with self._lock:
            await super().executemany(sql, rows)

    async def fetchall(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        async with self._lock:
            return await super().fetchall(sql, args)

    async def fetchone(self, sql: str, args: Sequence[Any] = ()) -> Row | None:
        async with self._lock:
            return await super().fetchone(sql, args)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Conn]:
        async with self._lock:
            inner = _SqliteConn(self._conn, self._executor)
            await inner.execute("BEGIN IMMEDIATE")
            try:
                yield inner
            except BaseException:
                # shielded: a cancelled task must still leave the connection clean
                await asyncio.shield(inner._call(self._rollback))
                raise
            else:
                await inner.execute("COMMIT")

    def _rollback(self) -> None:
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    async def atomic(self, body: Callable[[Conn], Coroutine[Any, Any, T]]) -> T:
        def in_thread() -> T:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                result = _run_through(body(_ThreadConn(self._conn, self._executor)))
                self._conn.execute("COMMIT")
            except BaseException:  # a COMMIT refused (busy) too: a retry starts clean
                self._rollback()
                raise
            return result

        # a caller cancelled while the thread runs leaves it to commit or roll back on its
        # own; the one database thread runs whatever comes next after it
        async with self._lock:
            return await self._call(in_thread)  # type: ignore[no-any-return]

    async def close(self) -> None:
        async with self._lock:
            with contextlib.suppress(Exception):
                await self._call(self._conn.close)
            self._executor.shutdown(wait=False)


# ---------------------------------------------------------------- PostgreSQL


# lost connections, serialization failures, deadlocks, lock timeouts, too many connections,
# admin shutdown: the same statement may succeed on a retry
_PG_TRANSIENT_STATES = ("08", "40001", "40P01", "55P03", "53300", "57P01", "57P02", "57P03")


def _pg_error(exc: BaseException) -> CatalogError:
    state = str(getattr(exc, "sqlstate", "") or "")
    transient = isinstance(exc, OSError | TimeoutError) or any(
        state.startswith(s) for s in _PG_TRANSIENT_STATES
    )
    if type(exc).__name__ in ("ConnectionDoesNotExistError", "InterfaceError"):
        transient = True
    return CatalogError(f"PostgreSQL: {type(exc).__name__}: {exc}", transient=transient)


class _PgConn:
    dialect = "postgresql"

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        import asyncpg

        try:
            status = await self._conn.execute(_to_dollar(sql), *args)
        except (asyncpg.PostgresError, OSError) as exc:
            raise _pg_error(exc) from exc
        tail = status.rsplit(" ", 1)[-1]
        return int(tail) if tail.isdigit() else 0

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        import asyncpg

        try:
            await self._conn.executemany(_to_dollar(sql), list(rows))
        except (asyncpg.PostgresError, OSError) as exc:
            raise _pg_error(exc) from exc

    async def fetchall(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        import asyncpg

        try:
            return [tuple(r) for r in await self._conn.fetch(_to_dollar(sql), *args)]
        except (asyncpg.PostgresError, OSError) as exc:
            raise _pg_error(exc) from exc

    async def fetchone(self, sql: str, args: Sequence[Any] = ()) -> Row | None:
        import asyncpg

        try:
            row = await self._conn.fetchrow(_to_dollar(sql), *args)
        except (asyncpg.PostgresError, OSError) as exc:
            raise _pg_error(exc) from exc
        return tuple(row) if row is not None else None


async def _keep_session(conn: Any) -> None:
    """The pool's reset of a connection it takes back: nothing to send.

    asyncpg's default sends ``SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET
    ALL`` after every use, one more round trip per statement and per commit (a commit is four
    without it). None of that state is ever left on a catalog connection: the catalog sets no
    session settings (``plan_cache_mode`` is a start-up parameter), takes only
    transaction-scoped advisory locks (``pg_advisory_xact_lock``), never LISTENs, declares no
    cursors and creates no temporary tables (``tests/integration/test_pg_session.py`` checks
    its SQL, and the session on every release while the library, web app and queries run);
    the job queue's locks and LISTEN are on procrastinate's own pool. The pool still rolls
    back a transaction left open (``Connection._reset`` runs before this) and drops a
    connection whose query was cancelled midway."""
    del conn


class PostgresDatabase:
    """An asyncpg pool; each statement or transaction takes a pooled connection."""

    dialect = "postgresql"

    def __init__(self, url: str, pool: Any) -> None:
        self.url = url
        self._pool = pool

    @classmethod
    async def connect(cls, url: str, max_size: int = 10) -> PostgresDatabase:
        import asyncpg

        try:
            # custom plans only: asyncpg prepares every statement, and after five runs the
            # server may switch to a generic plan that ignores the values; a query over the
            # index tables needs them (a rare label and a common one want opposite plans)
            pool = await asyncpg.create_pool(
                url,
                min_size=1,
                max_size=max_size,
                timeout=30,
                server_settings={"plan_cache_mode": "force_custom_plan"},
                reset=_keep_session,
            )
        except (TimeoutError, asyncpg.PostgresError, OSError) as exc:
            raise CatalogError(f"cannot connect to PostgreSQL catalog: {exc}") from exc
        return cls(url, pool)

    async def _run(self, method: str, sql: str, args: Any) -> Any:
        async with self._pool.acquire() as conn:
            return await getattr(_PgConn(conn), method)(sql, args)

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        return await self._run("execute", sql, args)  # type: ignore[no-any-return]

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self._run("executemany", sql, rows)

    async def fetchall(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        return await self._run("fetchall", sql, args)  # type: ignore[no-any-return]

    async def fetchone(self, sql: str, args: Sequence[Any] = ()) -> Row | None:
        return await self._run("fetchone", sql, args)  # type: ignore[no-any-return]

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Conn]:
        import asyncpg

        async with self._pool.acquire() as conn:
            try:
                async with conn.transaction():
                    yield _PgConn(conn)
            except (asyncpg.PostgresError, OSError) as exc:
                raise _pg_error(exc) from exc

    async def atomic(self, body: Callable[[Conn], Coroutine[Any, Any, T]]) -> T:
        async with self.transaction() as conn:
            return await body(conn)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._pool.close(), 10)


def sqlite_options(url: str, query: str) -> dict[str, int]:
    """The options a ``sqlite:///PATH?cache_mb=N`` URL may carry (N MiB of page cache)."""
    options: dict[str, int] = {}
    for key, values in parse_qs(query, keep_blank_values=True).items():
        value = values[-1]
        if key != "cache_mb":
            raise ConfigError(f"database URL {url!r}: unknown option {key!r} (known: cache_mb)")
        if not value.isdigit() or int(value) < 1:
            raise ConfigError(f"database URL {url!r}: cache_mb must be a whole number >= 1")
        options[key] = int(value)
    return options


async def connect(url: str) -> Database:
    """Open ``sqlite:///path`` (``sqlite:///:memory:``) or ``postgresql://...``."""
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        path = unquote(parsed.path)
        if parsed.netloc:
            raise ConfigError(f"database URL {url!r}: use sqlite:///ABSOLUTE/PATH (three slashes)")
        if path == "/:memory:":
            path = ":memory:"
        if not path:
            raise ConfigError(f"database URL {url!r} has no path")
        return await SqliteDatabase.connect(url, path, **sqlite_options(url, parsed.query))
    if parsed.scheme in ("postgresql", "postgres"):
        return await PostgresDatabase.connect(url)
    raise ConfigError(
        f"database URL {url!r}: unsupported scheme {parsed.scheme!r} "
        "(use sqlite:///PATH or postgresql://USER@HOST/DB)"
    )
