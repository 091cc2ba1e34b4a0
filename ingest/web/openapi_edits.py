"""The OpenAPI paths of the per-annotation endpoints and of the version actions (merged into
``openapi.openapi_document``)."""

from __future__ import annotations

from typing import Any

from .openapi import _json, _path_param, _ref

ANNOTATION = {
    "type": "object",
    "description": (
        "An annotation's JSON document form (`id`, `labels`, `confidence`, `metadata` and at "
        "most one shape) plus `frame`: the SingleFrame it belongs to, null for the group's own "
        "(global) annotations or a lone SingleFrame's"
    ),
    "properties": {"id": {"type": "string"}, "frame": {"type": ["string", "null"]}},
    "additionalProperties": True,
}
_IDS = [
    _path_param("version_id", "Version id"),
    _path_param("frame_id", "Frame id (URL-encoded)"),
]
_ANN_ID = _path_param("ann_id", "Annotation id (URL-encoded)")
_BODY = {"required": True, "content": {"application/json": {"schema": ANNOTATION}}}
_JSON_BODY = {"required": False, "content": {"application/json": {"schema": {"type": "object"}}}}


def edit_paths(errors: dict[str, Any], mutation_errors: dict[str, Any]) -> dict[str, Any]:
    """Path items to merge into the document's ``paths`` (``errors``: its 400/404 answers,
    ``mutation_errors``: those plus 401/409)."""
    cas = {**mutation_errors, "412": {**errors["404"], "description": "If-Match does not match"}}
    cas["415"] = {**errors["404"], "description": "The body is not application/json"}
    etag = "The ETag is the frame's revision; send it as `If-Match` to fail (412) on a change."
    mutation = {"security": [{"bearer": []}], "description": etag}
    version = _json(_ref("Version"), "The version")
    return {
        "/api/versions/{version_id}/frames/{frame_id}/annotations": {
            "get": {
                "summary": "The frame's annotations (`?frame=NAME`: of one SingleFrame)",
                "parameters": _IDS,
                "responses": {
                    "200": _json(
                        {"type": "object", "properties": {"annotations": {"type": "array"}}},
                        "The annotations, each with its id and frame",
                    ),
                    **errors,
                },
            },
            "post": {
                **mutation,
                "summary": "Add an annotation (to `frame`, or to the group; id generated "
                "when absent)",
                "parameters": _IDS,
                "requestBody": _BODY,
                "responses": {"201": _json(ANNOTATION, "The saved annotation"), **cas},
            },
        },
        "/api/versions/{version_id}/frames/{frame_id}/annotations/{ann_id}": {
            "get": {
                "summary": "One annotation",
                "parameters": [*_IDS, _ANN_ID],
                "responses": {"200": _json(ANNOTATION, "The annotation"), **errors},
            },
            "patch": {
                **mutation,
                "summary": "Change an annotation: given fields replace the stored ones (a "
                "shape replaces the shape, null clears a field); id and frame are fixed",
                "parameters": [*_IDS, _ANN_ID],
                "requestBody": _BODY,
                "responses": {"200": _json(ANNOTATION, "The saved annotation"), **cas},
            },
            "delete": {
                **mutation,
                "summary": "Delete an annotation",
                "parameters": [*_IDS, _ANN_ID],
                "responses": {"204": {"description": "Deleted"}, **cas},
            },
        },
        "/api/versions/{version_id}/publish": {
            "post": {
                "security": [{"bearer": []}],
                "summary": "Publish a Draft version (read-only from then on)",
                "parameters": _IDS[:1],
                "requestBody": _JSON_BODY,
                "responses": {"200": version, **mutation_errors},
            }
        },
        "/api/versions/{version_id}/snapshot": {
            "post": {
                "security": [{"bearer": []}],
                "summary": "Publish the draft as `publish_name` (it keeps its id); a new Draft "
                "`child_name`, child of the snapshot, goes on with its frames (both optional)",
                "parameters": _IDS[:1],
                "requestBody": _JSON_BODY,
                "responses": {
                    "201": _json(
                        {
                            "type": "object",
                            "properties": {"published": _ref("Version"), "child": _ref("Version")},
                        },
                        "The snapshot and the draft",
                    ),
                    **mutation_errors,
                },
            }
        },
        "/api/datasets/{name}/versions": {
            "post": {
                "security": [{"bearer": []}],
                "summary": "Create a Draft version `name`, child of the versions named "
                "`parents` (it starts with their frames)",
                "parameters": [_path_param("name", "Dataset name (URL-encoded)")],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["name"],
                                "properties": {
                                    "name": {"type": "string"},
                                    "parents": {"type": "array", "items": {"type": "string"}},
                                },
                            }
                        }
                    },
                },
                "responses": {"201": version, **mutation_errors},
            }
        },
    }
