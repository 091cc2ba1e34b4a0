"""Validation of ids and names taken from URLs and query strings (pure)."""

from __future__ import annotations

import re

from ..errors import ValidationError
from ..frames import check_frame_name
from ..limits import CONTROL_CLASS, MAX_ID_LENGTH

_VERSION_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")
# printable text: no C0/C1 control characters, no DEL (the limits every id is built within)
_CONTROL = re.compile(f"[{CONTROL_CLASS}]")

#: the ``{name}`` segment of a media URL when the frame is a SingleFrame (not a group)
SINGLE = "_"


def version_id(value: str) -> str:
    """Version ids are the catalog's (32 hex digits); accept [0-9A-Za-z_-]{1,64}."""
    if not _VERSION_ID.fullmatch(value):
        raise ValidationError("version_id", f"is not a valid version id: {value[:80]!r}")
    return value


def text_id(value: str, field: str) -> str:
    """Frame ids and dataset names: 1..``MAX_ID_LENGTH`` characters, no control characters."""
    if not value or len(value) > MAX_ID_LENGTH or _CONTROL.search(value):
        raise ValidationError(field, f"is not a valid {field.replace('_', ' ')}: {value[:80]!r}")
    return value


def frame_id(value: str) -> str:
    return text_id(value, "frame_id")


def dataset_name(value: str) -> str:
    return text_id(value, "dataset_name")


def frame_name(value: str) -> str:
    """The name of a SingleFrame inside a FrameGroup ('_' for a lone SingleFrame)."""
    text_id(value, "frame name")
    return check_frame_name(value)
