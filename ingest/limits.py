"""Limits on what a document may hold, checked when a frame or group is built (pure, no I/O).

They keep every accepted document storable and addressable, so a value that would only fail
later (orjson serialises integers of at most 64 bits and nests at most 255 levels; the web app
addresses ids of at most ``MAX_ID_LENGTH`` printable characters) is a ``ValidationError``
naming the field instead. The README lists them under "Limits".
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

from .errors import ValidationError

#: ids (frame and group ids, CSV ``group_id``) and frame names: at most this many characters
MAX_ID_LENGTH = 512
#: levels of objects and lists in a ``metadata`` value, the metadata object itself included
MAX_DEPTH = 64
#: integers anywhere in a document are signed 64-bit
INT_MIN = -(2**63)
INT_MAX = 2**63 - 1
#: one line of a JSONL or CSV manifest (and so one CSV cell), in bytes
MAX_LINE_BYTES = 32 << 20

# C0 and C1 control characters and DEL (NUL and ESC included): never in an id or a name
CONTROL_CLASS = r"\x00-\x1f\x7f-\x9f"  # a regex character class body (also ``decode.py``'s)
_CONTROL = re.compile(f"[{CONTROL_CLASS}]")
# 19 digits in a row: maybe an integer orjson turns into a float (>= 2**64 or < -2**63)
_LONG_DIGITS = re.compile(rb"\d{19}")
_PATH_SHOWN = 160  # characters of a nested path shown in a message


def _short(value: str, limit: int = 80) -> str:
    return repr(value[:limit]) + ("..." if len(value) > limit else "")


def check_id(value: str, field: str) -> str:
    """An id or a frame name: at most ``MAX_ID_LENGTH`` characters, no control characters."""
    if len(value) > MAX_ID_LENGTH:
        raise ValidationError(
            field, f"is {len(value)} characters long; the limit is {MAX_ID_LENGTH}: {_short(value)}"
        )
    found = _CONTROL.search(value)
    if found:
        raise ValidationError(
            field,
            f"contains the control character {found.group()!r} "
            f"at position {found.start()}: {_short(value)}",
        )
    return value


def check_uri(value: str, field: str) -> str:
    """A source, preview or mask URI: no NUL byte (no file system or URL can hold one)."""
    if "\x00" in value:
        raise ValidationError(field, f"contains a NUL byte: {_short(value)}")
    return value


def printable(value: str | None) -> str | None:
    """``value`` safe to print and to write as UTF-8 (report fields): control characters and
    undecodable bytes (surrogate escapes) become backslash escapes."""
    if value is None:
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        try:  # bytes that were not UTF-8 (decoded with surrogateescape): shown as \xNN
            value = value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        except UnicodeEncodeError:  # other lone surrogates: shown as \udNNN
            value = value.encode("utf-8", "backslashreplace").decode("utf-8")
    if _CONTROL.search(value) is None:
        return value
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], value)


def _segment(key: Any) -> str:
    return f"[{key!r}]" if not isinstance(key, str) else f"[{_short(key, 40)}]"


def _shown(path: str) -> str:
    return path if len(path) <= _PATH_SHOWN else path[:_PATH_SHOWN] + "..."


def check_json_value(value: Any, field: str) -> None:
    """A metadata value: nested at most ``MAX_DEPTH`` levels, string keys, 64-bit integers.

    Iterative (no recursion, whatever the depth); the path of an offending value is built only
    for the error message. Values of other types (datetime, UUID...) are left to orjson.
    """
    stack: list[tuple[Any, int, str]] = [(value, 1, "")]
    while stack:
        node, depth, path = stack.pop()
        if depth > MAX_DEPTH:
            raise ValidationError(
                field, f"is nested deeper than {MAX_DEPTH} levels (at {_shown(path)})"
            )
        if isinstance(node, dict):
            for key in node:
                if type(key) is not str:
                    raise ValidationError(
                        field + _shown(path), f"keys must be strings, got {key!r}"
                    )
            items: Any = node.items()
        else:
            items = enumerate(node)
        for key, v in items:
            kind = type(v)
            if kind is str or kind is float or kind is bool or v is None:
                continue
            if kind is int or isinstance(v, int):
                if not INT_MIN <= v <= INT_MAX:
                    raise ValidationError(
                        field + _shown(path + _segment(key)),
                        f"integers must fit in 64 bits (signed), got {_big(v)}",
                    )
            elif isinstance(v, dict | list | tuple):
                stack.append((v, depth + 1, path + _segment(key)))


def _big(value: int) -> str:
    text = str(value) if value.bit_length() < 4000 else f"an integer of {value.bit_length()} bits"
    return text if len(text) <= 60 else text[:30] + "..." + text[-10:]


def loads(text: bytes | str) -> Any:
    """JSON text -> value, keeping integers beyond 64 bits exact (orjson makes them floats,
    silently) so that validation refuses them by name. Raises ValueError (``orjson``'s
    ``JSONDecodeError`` is one) for invalid or too deeply nested JSON."""
    value = orjson.loads(text)
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    if _LONG_DIGITS.search(raw) is None:
        return value
    try:  # rare: a 20-digit run somewhere; the standard library keeps big integers exact
        return json.loads(raw)
    except RecursionError:
        raise ValueError("nested too deeply to read") from None
