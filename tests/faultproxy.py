"""A fault-injecting HTTP reverse proxy for the tests of HTTP stores (S3, GCS, Azure).

``FaultProxy(upstream)`` runs an aiohttp server on 127.0.0.1 (free port) in a background
thread with its own event loop, so it serves sync tests and async tests alike. Point an S3
client at ``proxy.endpoint``: every request (method, path, query, headers, body) is forwarded
to ``upstream`` (moto) and its response returned, unless a scripted fault applies.

Faults are scripted per object key and consumed in order by the matching requests::

    proxy.script("cam1/0001.jpg", ["503", "503"])       # two 503s, then pass through
    proxy.script("cam1/0002.jpg", ["reset"], method="PUT")
    proxy.count("PUT", "cam1/0001.jpg")                  # -> attempts seen, faulted or not

A key matches a request whose decoded path ends with ``/<key>`` (so ``"0001.jpg"`` matches
the last component and ``"cam1/0001.jpg"`` the last two); ``contains=True`` matches any
substring of the path instead (``""`` with ``contains=True`` matches every request);
``anywhere=True`` matches a substring of the path, the decoded query or the first 4 KiB of the
body (GCS names the object in an upload's JSON metadata or query, not in its path).
A ``Location`` header that points at the upstream is rewritten to point at the proxy, so a
resumable upload's session URL comes back through it too.

Fault kinds:
    "pass"              forward the request unchanged (to fault a later attempt only)
    "500" "502" "503" "504" "429"
                        that status with an S3 XML error body (InternalError, BadGateway,
                        ServiceUnavailable, GatewayTimeout, TooManyRequests)
    "SlowDown"          503 with Code SlowDown
    "AccessDenied"      403 AccessDenied
    "NoSuchBucket"      404 NoSuchBucket
    "RequestTimeout"    400 RequestTimeout (a transient 4xx)
    "STATUS:Code"       any status with any code, e.g. "400:InvalidArgument"
    "reset"             read the request, then reset the TCP connection (RST), no response
    "stall:SECONDS"     read the request, sleep SECONDS (past the client's read timeout),
                        then close the connection without a response
    "delay:SECONDS"     sleep SECONDS, then forward normally (latency injection)
    "corrupt"           forward the request with the middle byte of its body flipped (what
                        the store's integrity check must refuse)
"""

from __future__ import annotations

import asyncio
import io
import socket
import struct
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote
from xml.sax.saxutils import escape

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

_NAMED_FAULTS: dict[str, tuple[int, str]] = {
    "500": (500, "InternalError"),
    "502": (502, "BadGateway"),
    "503": (503, "ServiceUnavailable"),
    "504": (504, "GatewayTimeout"),
    "429": (429, "TooManyRequests"),
    "SlowDown": (503, "SlowDown"),
    "AccessDenied": (403, "AccessDenied"),
    "NoSuchBucket": (404, "NoSuchBucket"),
    "RequestTimeout": (400, "RequestTimeout"),
}

_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "expect",
        "content-length",
    }
)


@dataclass(frozen=True)
class Fault:
    kind: str  # "pass" | "status" | "reset" | "stall" | "delay" | "corrupt"
    status: int = 0
    code: str = ""
    seconds: float = 0.0

    @classmethod
    def parse(cls, spec: str) -> Fault:
        if spec == "pass":
            return cls("pass")
        if spec in ("reset", "corrupt"):
            return cls(spec)
        if spec in _NAMED_FAULTS:
            status, code = _NAMED_FAULTS[spec]
            return cls("status", status=status, code=code)
        head, sep, tail = spec.partition(":")
        if sep and head in ("stall", "delay"):
            return cls(head, seconds=float(tail))
        if sep and head.isdigit():
            return cls("status", status=int(head), code=tail)
        raise ValueError(f"unknown fault {spec!r}")


@dataclass
class _Script:
    key: str
    method: str | None
    contains: bool
    faults: list[Fault]
    anywhere: bool = False

    def matches(self, method: str, path: str, head: str) -> bool:
        if self.method is not None and self.method != method:
            return False
        if self.anywhere:
            return self.key in head
        return _key_matches(self.key, path, self.contains)


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str  # decoded, without the query
    query: str
    fault: str  # the fault applied, or "pass"
    head: str = ""  # path, decoded query and the first 4 KiB of the body (``anywhere``)
    range: str = ""  # the Range header (a ranged GET)


def _key_matches(key: str, path: str, contains: bool) -> bool:
    if contains:
        return key in path
    return path == "/" + key.lstrip("/") or path.endswith("/" + key.lstrip("/"))


@dataclass
class FaultProxy:
    upstream: str
    host: str = "127.0.0.1"
    port: int = 0
    _scripts: list[_Script] = field(default_factory=list)
    _log: list[RequestRecord] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _runner: web.AppRunner | None = None
    _session: aiohttp.ClientSession | None = None

    # -- scripting and inspection (any thread) -------------------------------------------------

    def script(
        self,
        key: str,
        faults: Sequence[str],
        *,
        method: str | None = None,
        contains: bool = False,
        anywhere: bool = False,
    ) -> None:
        """The next ``len(faults)`` requests matching ``key`` (and ``method``) get these faults."""
        parsed = [Fault.parse(f) for f in faults]
        upper = method.upper() if method else None
        with self._lock:
            self._scripts.append(_Script(key, upper, contains, parsed, anywhere))

    def pending(self, key: str | None = None) -> int:
        """Faults scripted but not yet consumed (for ``key``, or in total)."""
        with self._lock:
            return sum(len(s.faults) for s in self._scripts if key is None or s.key == key)

    def count(
        self,
        method: str | None = None,
        key: str = "",
        *,
        contains: bool = False,
        anywhere: bool = False,
    ) -> int:
        """Requests seen (forwarded or faulted) with ``method`` (None: any) matching ``key``
        ("": any path)."""
        with self._lock:
            return sum(
                1
                for r in self._log
                if (method is None or r.method == method.upper())
                and (
                    not key or (key in r.head if anywhere else _key_matches(key, r.path, contains))
                )
            )

    @property
    def puts(self) -> int:
        """Total PUT requests (PutObject and UploadPart)."""
        return self.count("PUT")

    @property
    def requests(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._log)

    def reset(self) -> None:
        """Forget scripts and counts."""
        with self._lock:
            self._scripts.clear()
            self._log.clear()

    def _take(self, method: str, path: str, head: str) -> Fault | None:
        with self._lock:
            for s in self._scripts:
                if s.faults and s.matches(method, path, head):
                    return s.faults.pop(0)
            return None

    def _record(self, request: web.Request, fault: Fault | None, head: str) -> None:
        kind = "pass" if fault is None else (fault.code or fault.kind)
        record = RequestRecord(
            request.method, unquote(request.path), request.query_string, kind, head,
            request.headers.get("Range", ""),
        )  # fmt: skip
        with self._lock:
            self._log.append(record)

    # -- lifecycle (call from the test's thread) -----------------------------------------------

    @property
    def endpoint(self) -> str:
        if not self.port:
            raise RuntimeError("fault proxy is not running")
        return f"http://{self.host}:{self.port}"

    def start(self) -> FaultProxy:
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="faultproxy", daemon=True)
        self._thread.start()
        ready.wait(10)
        asyncio.run_coroutine_threadsafe(self._astart(), loop).result(timeout=10)
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._astop(), loop).result(timeout=10)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
            loop.close()
            self._loop = self._thread = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @contextmanager
    def scripted(self, key: str, faults: Sequence[str], **kw: Any) -> Iterator[FaultProxy]:
        self.script(key, faults, **kw)
        yield self

    # -- the server (runs in the proxy's loop) -------------------------------------------------

    async def _astart(self) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0),
            auto_decompress=False,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
        )
        app = web.Application(client_max_size=1024**3)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))  # port 0: the kernel picks a free one
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()

    async def _astop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()
        # handlers still sleeping in a stall: cancel them before the loop goes away
        rest = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for t in rest:
            t.cancel()
        await asyncio.gather(*rest, return_exceptions=True)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        path = unquote(request.path)
        head = f"{path}?{unquote(request.query_string)}\n{body[:4096].decode('latin-1')}"
        fault = self._take(request.method, path, head)
        self._record(request, fault, head)
        if fault is None or fault.kind == "pass":
            return await self._forward(request, body)
        if fault.kind == "delay":
            await asyncio.sleep(fault.seconds)
            return await self._forward(request, body)
        if fault.kind == "corrupt" and body:
            middle = len(body) // 2
            flipped = body[:middle] + bytes([body[middle] ^ 0xFF]) + body[middle + 1 :]
            return await self._forward(request, flipped)
        if fault.kind == "status":
            return _error_response(request, fault.status, fault.code, path)
        if fault.kind == "stall":
            await asyncio.sleep(fault.seconds)
            _drop(request, reset=False)
            return web.Response(status=500)  # never reaches the client
        _drop(request, reset=True)
        return web.Response(status=500)  # never reaches the client

    async def _forward(self, request: web.Request, body: bytes) -> web.StreamResponse:
        assert self._session is not None
        headers = CIMultiDict(
            (k, v) for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP
        )
        url = URL(self.upstream.rstrip("/") + request.raw_path, encoded=True)
        try:
            async with self._session.request(
                request.method,
                url,
                headers=headers,
                # a BytesIO is streamed; raw bytes > 1 MiB make aiohttp warn
                data=io.BytesIO(body) if body or request.method in ("PUT", "POST") else None,
                allow_redirects=False,
                skip_auto_headers=("Content-Type", "User-Agent", "Accept", "Accept-Encoding"),
            ) as upstream:
                payload = await upstream.read()
                out = CIMultiDict(
                    (k, v) for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP
                )
                if request.method == "HEAD" and "Content-Length" in upstream.headers:
                    out["Content-Length"] = upstream.headers["Content-Length"]
                location = out.get("Location", "")
                if location.startswith(self.upstream.rstrip("/") + "/"):  # back through us
                    out["Location"] = self.endpoint + location[len(self.upstream.rstrip("/")) :]
                return web.Response(status=upstream.status, body=payload or None, headers=out)
        except aiohttp.ClientError as exc:
            return _error_response(request, 502, "BadGateway", f"upstream failed: {exc!r}")


def _error_response(request: web.Request, status: int, code: str, resource: str) -> web.Response:
    request_id = uuid.uuid4().hex[:16].upper()
    headers = {"x-amz-request-id": request_id}
    if request.method == "HEAD":  # S3 sends no body with HEAD errors
        return web.Response(status=status, headers=headers)
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{escape(code)}</Code>"
        f"<Message>injected fault: {escape(code)}</Message>"
        f"<Resource>{escape(resource)}</Resource>"
        f"<RequestId>{request_id}</RequestId></Error>"
    )
    return web.Response(
        status=status, body=xml.encode(), content_type="application/xml", headers=headers
    )


def _drop(request: web.Request, *, reset: bool) -> None:
    transport = request.transport
    if transport is None:
        return
    if reset:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # linger 0: close() sends RST instead of FIN, like a crashed peer or a middlebox
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    else:
        transport.close()
