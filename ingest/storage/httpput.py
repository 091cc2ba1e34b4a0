"""One HTTP/1.1 PUT (or HEAD) on a pooled keep-alive connection: the lean path's wire, plain HTTP.

Why the connections are hand-written (the parsing is httptools'): the lean PUT path
(``s3put.LeanPut``) signs each PutObject itself, and aiohttp's ``ClientSession.request`` was
then most of what a PUT still cost the client (~0.25 ms of CPU per 64 KiB object: request and
response objects, auto headers, a payload writer, a streaming response reader, timer handles),
for a request whose shape never changes and whose answer is a status line, a few headers and, on
an error, a small XML body. Here a request is its header block and its body handed to the
transport in one ``writelines`` (one ``writev`` on uvloop), and the answer is parsed by
``httptools`` (llhttp, as in uvicorn) from the bytes the protocol receives, straight into
status, headers and body: a whole lean PUT of 64 KiB (MD5 and signing included) costs 0.30-0.35
ms of client CPU this way against 0.47-0.59 ms on aiohttp (``benchmarks/put_path.py``, ``rclone
serve s3``).

Scope, kept small on purpose: ``http://`` endpoints only (TLS stays on aiohttp, where the
certificate settings are botocore's and the encryption dwarfs this saving) and bodies up to
``WIRE_MAX`` (a body is handed to the transport whole; larger ones go through aiohttp, which
streams them and counts the read timeout from the end of the upload); a response is a
status line, headers and a body framed by ``Content-Length``, ``chunked`` or the close of the
connection; 1xx answers are skipped. No redirects, no re-sends: one call, at most one request
on the wire (the pipeline owns retries). A connection goes back to the pool only after a
complete response that did not ask to close it.

Timeouts as aiobotocore sets them on aiohttp: ``connect_timeout`` for the TCP connect,
``read_timeout`` for silence while a response is awaited (re-armed by every chunk received).
Errors are botocore's, as aiobotocore's ``send`` maps aiohttp's: refused or unreachable ->
``EndpointConnectionError``, connect timeout -> ``ConnectTimeoutError``, silence ->
``ReadTimeoutError``, a connection closed or a malformed answer -> ``ConnectionClosedError``;
``s3errors.translate_error`` classifies them once, as before.
"""

from __future__ import annotations

import asyncio
import collections
import socket
from urllib.parse import urlsplit

import botocore.exceptions as bexc
import httptools

#: the largest body sent on this wire (``LeanPut`` sends larger ones with aiohttp)
WIRE_MAX = 1024 * 1024
#: the largest header block accepted from a server
MAX_HEAD = 64 * 1024


class MalformedResponse(Exception):
    """The server's answer is not HTTP/1.x as this client reads it."""


Result = tuple[int, dict[str, str], bytes, bool]  # status, headers, body, reusable


class _Conn(asyncio.Protocol):
    """One keep-alive connection; one exchange at a time. The response is parsed by
    ``httptools`` (llhttp, the parser uvicorn uses): its callbacks below collect the status,
    the headers and the body up to ``body_max``."""

    def __init__(self, loop: asyncio.AbstractEventLoop, body_max: int) -> None:
        self.loop = loop
        self.body_max = body_max
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.waiter: asyncio.Future[Result] | None = None
        self.parser: httptools.HttpResponseParser | None = None
        self.headers: dict[str, str] = {}
        self.body = bytearray()
        self.framed = False  # Content-Length or chunked: the body does not end with the close
        self.head_done = False
        self.head_bytes = 0  # bytes received before the end of the header block
        self.timer: asyncio.TimerHandle | None = None
        self.read_timeout = 0.0
        self.bodiless = False  # the answer to a HEAD: its headers are the whole of it

    # -- asyncio.Protocol ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.waiter is None or self.waiter.done() or self.parser is None:
            self.close()  # nothing asked: not ours to keep
            return
        if not self.head_done:
            self.head_bytes += len(data)
            if self.head_bytes > MAX_HEAD + self.body_max:
                self._fail(MalformedResponse("response header block too large"))
                return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(MalformedResponse(f"malformed response: {exc}"))
            return
        if not self.waiter.done() and self.read_timeout:
            self._arm()  # more to come: the silence allowed starts again

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is None or self.waiter.done():
            return
        if self.head_done and not self.framed:  # no framing: the body ends with the connection
            self._finish(self._result(False))
        else:
            self._fail(exc or ConnectionResetError("connection closed before the response's end"))

    # -- httptools callbacks -------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        self.headers[key] = value.decode("latin-1").strip()
        if key in ("content-length", "transfer-encoding"):
            self.framed = True

    def on_headers_complete(self) -> None:
        self.head_done = True
        if self.bodiless and self.waiter is not None and not self.waiter.done():
            # a HEAD's Content-Length is the object's, no body follows: the parser (which
            # does not know the method) is dropped with this exchange, the connection kept
            assert self.parser is not None
            self._finish(self._result(self.parser.should_keep_alive()))

    def on_body(self, data: bytes) -> None:
        if self.waiter is None or self.waiter.done():  # cut at body_max already
            return
        self.body += data
        if len(self.body) >= self.body_max:  # enough of it: the rest is not read
            self._finish(self._result(False))

    def on_message_complete(self) -> None:
        assert self.parser is not None
        if 100 <= self.parser.get_status_code() < 200:  # 100 Continue: the real answer follows
            self.headers, self.framed, self.head_done = {}, False, False
            return
        if self.waiter is not None and not self.waiter.done():
            self._finish(self._result(self.parser.should_keep_alive()))

    def _result(self, keep: bool) -> Result:
        assert self.parser is not None
        status = self.parser.get_status_code()
        return status, self.headers, bytes(self.body[: self.body_max]), keep

    # -- one exchange --------------------------------------------------------------------------

    def send(
        self, request: list[bytes], read_timeout: float, bodiless: bool = False
    ) -> asyncio.Future[Result]:
        assert self.transport is not None
        self.bodiless = bodiless
        self.parser = httptools.HttpResponseParser(self)
        self.headers, self.body, self.framed, self.head_done = {}, bytearray(), False, False
        self.head_bytes = 0
        self.waiter = self.loop.create_future()
        self.read_timeout = read_timeout
        self.transport.writelines(request)
        if read_timeout:
            self._arm()
        return self.waiter

    def _arm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer = self.loop.call_later(self.read_timeout, self._timed_out)

    def _timed_out(self) -> None:
        self.timer = None
        self._fail(TimeoutError(f"no response data for {self.read_timeout} s"))

    def _finish(self, result: Result) -> None:
        self._stop_timer()
        assert self.waiter is not None
        self.waiter.set_result(result)
        if not result[3]:
            self.close()

    def _fail(self, exc: BaseException) -> None:
        self._stop_timer()
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)
        self.close()

    def _stop_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def close(self) -> None:
        self.closed = True
        self._stop_timer()
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self.closed = True
        self._stop_timer()
        if self.transport is not None:
            self.transport.abort()


class PutPool:
    """Keep-alive HTTP/1.1 connections to one ``host:port``, at most ``limit`` at once."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        limit: int,
        connect_timeout: float,
        read_timeout: float,
        body_max: int,
    ) -> None:
        self.host = host
        self.port = port
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.body_max = body_max
        self._idle: collections.deque[_Conn] = collections.deque()
        self._slots = asyncio.Semaphore(limit)
        self._all: set[_Conn] = set()
        self.connections_opened = 0  # for tests and tools

    async def put(
        self, target: str, headers: dict[str, str], body: bytes, url: str, method: str = "PUT"
    ) -> tuple[int, dict[str, str], bytes]:
        """Send ``PUT target`` (or ``method``: HEAD) once; (status, lower-cased headers, body
        up to ``body_max``). Raises botocore's exceptions for what went wrong on the way
        (``url`` names it)."""
        bodiless = method == "HEAD"
        head = _request_head(target, headers, None if bodiless else len(body), method)
        async with self._slots:
            conn = await self._connection(url)
            try:
                status, resp_headers, data, keep = await conn.send(
                    [head, body], self.read_timeout, bodiless
                )
            except asyncio.CancelledError:
                conn.abort()
                raise
            except TimeoutError as exc:
                raise bexc.ReadTimeoutError(endpoint_url=url, error=exc) from exc
            except (OSError, MalformedResponse) as exc:
                raise bexc.ConnectionClosedError(endpoint_url=url, error=exc, request=None) from exc
            finally:
                if conn.closed:
                    self._all.discard(conn)
            # kept only when the server read the whole request: one that answered early (an
            # error before the body's end) would take the rest of it for the next request
            transport = conn.transport
            if keep and not conn.closed and transport and not transport.get_write_buffer_size():
                self._idle.append(conn)
            else:
                conn.close()
                self._all.discard(conn)
            return status, resp_headers, data

    async def _connection(self, url: str) -> _Conn:
        while self._idle:
            conn = self._idle.pop()  # the most recently used: the least likely to be closed
            if not conn.closed and conn.transport is not None and not conn.transport.is_closing():
                return conn
            self._all.discard(conn)
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout or None):
                _transport, conn = await loop.create_connection(
                    lambda: _Conn(loop, self.body_max), self.host, self.port
                )
        except TimeoutError as exc:
            raise bexc.ConnectTimeoutError(endpoint_url=url, error=exc) from exc
        except OSError as exc:  # refused, unreachable, name not resolved
            raise bexc.EndpointConnectionError(endpoint_url=url, error=exc) from exc
        sock = _transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.connections_opened += 1
        self._all.add(conn)
        return conn

    def close(self) -> None:
        for conn in self._all:
            conn.close()
        self._all.clear()
        self._idle.clear()


def _request_head(
    target: str, headers: dict[str, str], length: int | None, method: str = "PUT"
) -> bytes:
    """The request line and header block; a header that would split the request is refused."""
    lines = [f"{method} {target} HTTP/1.1"]
    for name, value in headers.items():
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name or ":" in name:
            raise ValueError(f"invalid HTTP header {name!r}: {value!r}")
        lines.append(f"{name}: {value}")
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def split_http_url(url: str) -> tuple[str, int] | None:
    """(host, port) of a plain ``http://`` URL, None for anything else."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        return None
    return parts.hostname, parts.port or 80
