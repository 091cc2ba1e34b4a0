"""A frame's masks (id -> URI) and mask labels: the version metadata's map from mask pixel
values to labels."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .errors import ValidationError
from .fields import check_text, check_uri_field


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


#: the key of the version metadata's ``mask_labels`` object that holds the entries (docs:
#: ``{'_all_': [{'value': [0, 0, 0], 'labels': ['background']}, ...]}``)
ALL_MASKS = "_all_"


def mask_label_entries(stored: Any) -> list[Any]:
    """The entries of a stored ``mask_labels`` value: ``{"_all_": [...]}``, or the bare list
    stored before it took the reference's shape."""
    if isinstance(stored, dict):
        stored = stored.get(ALL_MASKS)
    return stored if isinstance(stored, list) else []


def masks_from(mask_source: Any, masks_source: Any, owner: str) -> dict[str, str]:
    """A frame's masks, id -> URI: ``masks_source`` (a dict, or a list: ids "00", "01", ...)
    plus ``mask_source`` (id "semantic")."""
    masks: dict[str, str] = {}
    where = f"{owner}.masks" if masks_source is not None else owner
    if masks_source is not None:
        if isinstance(masks_source, dict):
            items = list(masks_source.items())
        elif isinstance(masks_source, list | tuple):
            items = [(mask_list_id(i), uri) for i, uri in enumerate(masks_source)]
        else:
            raise ValidationError(
                where, f"must be a list of URIs or an object id -> URI, got {masks_source!r}"
            )
        for mask_id, uri in items:
            check_text(mask_id, f"{where} id", optional=False)
            masks[mask_id] = check_uri_field(uri, f"{where}[{mask_id!r}]", optional=False)  # type: ignore[assignment]
    if mask_source is not None:
        masks["semantic"] = check_uri_field(mask_source, "mask_source", optional=False)  # type: ignore[assignment]
    return masks


def mask_list_id(index: int) -> str:
    """The id of the ``index``-th mask of a ``masks_source`` list: "00", "01", ... (docs)."""
    return f"{index:02d}"
