"""Validation of one document field: numbers, text, ids, URIs, metadata, frame names (pure).

Each check names the field in its ``ValidationError``; paths are built only on error.
"""

from __future__ import annotations

import math
from typing import Any

from .errors import ValidationError
from .limits import INT_MAX, INT_MIN, check_id, check_json_value, check_uri


def is_number(value: Any) -> bool:
    """A finite number that serialises: a float, or an integer within 64 bits (signed)."""
    kind = type(value)
    if kind is int:
        return INT_MIN <= value <= INT_MAX
    if kind is float:
        return math.isfinite(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return INT_MIN <= value <= INT_MAX if isinstance(value, int) else math.isfinite(value)


def finite_numbers(value: Any) -> bool:
    if type(value) is not list and not isinstance(value, list | tuple):
        return False
    for v in value:
        kind = type(v)
        if (kind is int and INT_MIN <= v <= INT_MAX) or (kind is float and math.isfinite(v)):
            continue
        if not is_number(v):
            return False
    return True


def field_path(where: str, field: str) -> str:
    """The field path for an error message (built only when there is an error)."""
    return f"{where}.{field}" if field else where


def check_metadata(value: Any, where: str, field: str = "") -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValidationError(
            field_path(where, field), f"must be a JSON object, got {type(value).__name__}"
        )
    if value:
        check_json_value(value, field_path(where, field))  # string keys, depth, 64-bit integers
    return value


def check_labels(value: Any, where: str) -> list[str]:
    """``where`` names the owner; the field path is built on error only."""
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list | tuple):
        for v in value:
            if type(v) is not str or not v:
                break
        else:
            return list(value)
    raise ValidationError(f"{where}.labels", f"must be a list of non-empty strings, got {value!r}")


def check_timestamp(value: Any, where: str, field: str = "") -> float | int | None:
    if value is None or is_number(value):
        return value  # type: ignore[no-any-return]
    if isinstance(value, int) and not isinstance(value, bool):
        raise ValidationError(field_path(where, field), "must be a number within 64 bits (signed)")
    raise ValidationError(
        field_path(where, field), f"must be a number (e.g. seconds since epoch), got {value!r}"
    )


def check_dimension(value: Any, where: str, field: str = "") -> int | None:
    if value is None or (type(value) is int and 0 < value <= INT_MAX):
        return value
    if type(value) is int and value > 0:
        raise ValidationError(field_path(where, field), "must be a positive integer within 64 bits")
    raise ValidationError(field_path(where, field), f"must be a positive integer, got {value!r}")


def check_text(value: Any, where: str, field: str = "", *, optional: bool = True) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise ValidationError(
            field_path(where, field), f"must be a non-empty string, got {value!r}"
        )
    return value


def check_id_field(value: Any, where: str, field: str = "id") -> str | None:
    """An optional id: a non-empty string within ``limits.MAX_ID_LENGTH``, no control chars."""
    text = check_text(value, where, field)
    return text if text is None else check_id(text, field_path(where, field))


def check_uri_field(
    value: Any, where: str, field: str = "", *, optional: bool = True
) -> str | None:
    text = check_text(value, where, field, optional=optional)
    return text if text is None else check_uri(text, field_path(where, field))


def check_frame_name(name: Any, where: str = "frame name") -> str:
    """A frame name is a non-empty string without '/' (names become object key parts), within
    the id limits (``limits.check_id``: URL segments of the web app)."""
    check_text(name, where, optional=False)
    if "/" in name:
        raise ValidationError(where, f"must not contain '/', got {name!r}")
    return check_id(name, where)
