"""Mask labels: the version metadata's map from mask pixel values to labels."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .errors import ValidationError


def mask_labels_to_json(mask_labels: dict[Any, Sequence[str]]) -> list[dict[str, Any]]:
    """``{(r, g, b) or value: [labels]}`` -> the version metadata's ``mask_labels`` list."""
    out = []
    for value, labels in mask_labels.items():
        pixel = [value] if isinstance(value, int) else list(value)
        if not pixel or not all(isinstance(v, int) and 0 <= v <= 255 for v in pixel):
            raise ValidationError(
                "mask_labels", f"keys are pixel values (r, g, b) in 0..255, got {value!r}"
            )
        if isinstance(labels, str) or not all(isinstance(lb, str) for lb in labels):
            raise ValidationError(
                f"mask_labels[{value!r}]", f"must be a list of labels, got {labels!r}"
            )
        out.append({"value": pixel, "labels": list(labels)})
    return out
