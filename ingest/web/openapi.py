"""The OpenAPI 3.1 description of the REST API, served at ``/api/openapi.json``."""

from __future__ import annotations

from functools import cache
from importlib import metadata
from typing import Any


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERROR = _json(_ref("Error"), "An error")
_ERRORS = {
    "400": {**_ERROR, "description": "Invalid id, query or body"},
    "404": {**_ERROR, "description": "No such dataset, version or frame"},
}
_MUTATION_ERRORS = {
    **_ERRORS,
    "401": {**_ERROR, "description": "Missing or wrong bearer token"},
    "409": {**_ERROR, "description": "The version is Published (read-only)"},
}


def _path_param(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string"},
    }


def _query_param(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


def _package_version() -> str:
    try:
        return metadata.version("frame-ingest")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0"


_VERSION_ID = _path_param("version_id", "Version id (32 hex digits)")
_FRAME_ID = _path_param("frame_id", "Frame id (URL-encoded)")


@cache
def openapi_document() -> dict[str, Any]:
    frame_doc = {
        "type": "object",
        "description": (
            "The JSON document form of a FrameGroup (with `frames`) or of a SingleFrame "
            "(with `source`), schema_version 2 (1 is read too); see the README."
        ),
        "additionalProperties": True,
    }
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "frame-ingest web API",
            "version": _package_version(),
            "description": (
                "Browse datasets, versions and frames; edit or delete frames of Draft "
                "versions. Mutations need `Authorization: Bearer <INGEST_API_TOKEN>`. Errors "
                'are `{"error": {"type": ..., "message": ...}}`.'
            ),
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["type", "message"],
                            "properties": {
                                "type": {"type": "string"},
                                "message": {"type": "string"},
                                "field": {"type": "string"},
                            },
                        }
                    },
                },
                "Dataset": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string"},
                        "name": {"type": "string"},
                        "description": {"type": ["string", "null"]},
                        "tags": {"type": "array", "items": {"type": "string"}},
                        "created_at": {"type": "number"},
                        "version_count": {"type": "integer"},
                    },
                },
                "MaskLabel": {
                    "type": "object",
                    "properties": {
                        "value": {"type": "array", "items": {"type": "integer"}},
                        "labels": {"type": "array", "items": {"type": "string"}},
                    },
                },
                "Version": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string"},
                        "dataset_id": {"type": "string"},
                        "dataset_name": {"type": "string"},
                        "name": {"type": "string"},
                        "state": {"enum": ["Draft", "Published"]},
                        "read_only": {"type": "boolean"},
                        "parents": {"type": "array", "items": {"type": "string"}},
                        "created_at": {"type": "number"},
                        "published_at": {"type": ["number", "null"]},
                        "frame_count": {"type": "integer"},
                        "mask_labels": {"type": "array", "items": _ref("MaskLabel")},
                        "metadata": {"type": "object"},
                    },
                },
                "FrameDocument": frame_doc,
                "FramePage": {
                    "type": "object",
                    "properties": {
                        "frames": {"type": "array", "items": _ref("FrameDocument")},
                        "next_cursor": {"type": ["string", "null"]},
                    },
                },
            },
        },
        "paths": {
            "/api/datasets": {
                "get": {
                    "summary": "List datasets",
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "datasets": {"type": "array", "items": _ref("Dataset")}
                                },
                            },
                            "The datasets, by name",
                        )
                    },
                }
            },
            "/api/datasets/{name}/versions": {
                "get": {
                    "summary": "A dataset and its versions (oldest first)",
                    "parameters": [_path_param("name", "Dataset name (URL-encoded)")],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "dataset": _ref("Dataset"),
                                    "versions": {"type": "array", "items": _ref("Version")},
                                },
                            },
                            "The dataset and its versions",
                        ),
                        **_ERRORS,
                    },
                }
            },
            "/api/versions/{version_id}": {
                "get": {
                    "summary": "One version",
                    "parameters": [_VERSION_ID],
                    "responses": {"200": _json(_ref("Version"), "The version"), **_ERRORS},
                }
            },
            "/api/versions/{version_id}/contexts": {
                "get": {
                    "summary": "The version's contexts, in order, with frame counts",
                    "parameters": [
                        _VERSION_ID,
                        _query_param("after", "List contexts after this one", {"type": "string"}),
                        _query_param(
                            "limit",
                            "Page size",
                            {"type": "integer", "minimum": 1, "maximum": 500, "default": 100},
                        ),
                    ],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "contexts": {"type": "array"},
                                    "next_after": {"type": ["string", "null"]},
                                },
                            },
                            "A page of contexts",
                        ),
                        **_ERRORS,
                    },
                }
            },
            "/api/versions/{version_id}/frames": {
                "get": {
                    "summary": "A page of frames, in (context_id, timestamp, id) order",
                    "parameters": [
                        _VERSION_ID,
                        _query_param(
                            "limit",
                            "Page size",
                            {"type": "integer", "minimum": 1, "maximum": 500, "default": 50},
                        ),
                        _query_param(
                            "cursor", "`next_cursor` of the previous page", {"type": "string"}
                        ),
                        _query_param("context_id", "Only this context", {"type": "string"}),
                        _query_param(
                            "q",
                            "Lucene query (the DataView language: `label:car AND NOT "
                            "meta.city:bremen`, `confidence:[0.5 TO 1]`, `source.id:front`, "
                            "...); a bad one is a 400 whose error has the `column`",
                            {"type": "string"},
                        ),
                        _query_param(
                            "label",
                            "Only items with an annotation (ROI or frame label) with this label",
                            {"type": "string"},
                        ),
                        {
                            "name": "meta",
                            "in": "query",
                            "required": False,
                            "style": "form",
                            "explode": True,
                            "description": (
                                "`meta.KEY=VALUE`: only items whose metadata (the group's or "
                                "any SingleFrame's) has KEY with the scalar value VALUE "
                                "(strings; numbers as written; true/false)"
                            ),
                            "schema": {
                                "type": "object",
                                "additionalProperties": {"type": "string"},
                            },
                        },
                    ],
                    "responses": {"200": _json(_ref("FramePage"), "A page of frames"), **_ERRORS},
                }
            },
            "/api/versions/{version_id}/frames/{frame_id}": {
                "get": {
                    "summary": "One frame (JSON document form); the ETag is its revision",
                    "parameters": [_VERSION_ID, _FRAME_ID],
                    "responses": {"200": _json(frame_doc, "The frame document"), **_ERRORS},
                },
                "patch": {
                    "summary": "Edit a frame of a Draft version (atomically)",
                    "description": (
                        "`application/json`: a partial document; given fields replace the "
                        "stored ones, a group's `frames` merge by name (`null` removes one). "
                        "`application/merge-patch+json`: RFC 7396 over the whole document. "
                        "The result is validated whole; the id and kind cannot change; URIs "
                        "may be kept or set to http(s)/s3 ones. The write is a compare-and-set "
                        "on the frame's revision: with `If-Match: <ETag>` the edit fails with "
                        "412 if the frame changed meanwhile (of concurrent edits with one ETag "
                        "exactly one wins); without it the patch is applied to the latest "
                        "content. Bodies nested deeper than 200 levels are a 400."
                    ),
                    "security": [{"bearer": []}],
                    "parameters": [_VERSION_ID, _FRAME_ID],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": frame_doc},
                            "application/merge-patch+json": {"schema": frame_doc},
                        },
                    },
                    "responses": {
                        "200": _json(frame_doc, "The saved frame document"),
                        **_MUTATION_ERRORS,
                        "412": {**_ERROR, "description": "If-Match does not match"},
                        "415": {**_ERROR, "description": "Unsupported Content-Type"},
                    },
                },
                "delete": {
                    "summary": "Remove a frame from a Draft version",
                    "description": "`If-Match: <ETag>`: only if the frame is unchanged (412).",
                    "security": [{"bearer": []}],
                    "parameters": [_VERSION_ID, _FRAME_ID],
                    "responses": {
                        "204": {"description": "Deleted"},
                        **_MUTATION_ERRORS,
                        "412": {**_ERROR, "description": "If-Match does not match"},
                    },
                },
            },
            "/media/{version_id}/{frame_id}/{name}/{part}": {
                "get": {
                    "summary": "An object a frame references (in the configured store: "
                    "local streamed, s3 a presigned redirect, gs/az a signed redirect where "
                    "the credentials can sign, else streamed; http(s): a redirect; other "
                    "buckets and local paths: 404, never presigned)",
                    "parameters": [
                        _VERSION_ID,
                        _FRAME_ID,
                        _path_param(
                            "name", "SingleFrame name in the group, `_` for a SingleFrame item"
                        ),
                        {
                            "name": "part",
                            "in": "path",
                            "required": True,
                            "schema": {"enum": ["source", "preview"]},
                            "description": "`preview` falls back to the source",
                        },
                    ],
                    "responses": {
                        "200": {"description": "The object's bytes"},
                        "302": {"description": "Redirect to the object"},
                        **_ERRORS,
                    },
                }
            },
            "/media/{version_id}/{frame_id}/{name}/masks/{mask_id}": {
                "get": {
                    "summary": "A mask of a frame",
                    "parameters": [
                        _VERSION_ID,
                        _FRAME_ID,
                        _path_param("name", "SingleFrame name, `_` for a SingleFrame item"),
                        _path_param("mask_id", "Mask id (URL-encoded)"),
                    ],
                    "responses": {
                        "200": {"description": "The mask's bytes"},
                        "302": {"description": "Redirect to the mask"},
                        **_ERRORS,
                    },
                }
            },
        },
    }
    from .openapi_edits import edit_paths  # it builds on this module's helpers

    for path, operations in edit_paths(_ERRORS, _MUTATION_ERRORS).items():
        document["paths"].setdefault(path, {}).update(operations)
    return document
