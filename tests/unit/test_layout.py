"""The code's shape: entry points go through the application object, SQL stays in the
catalog, modules stay small, and the public API does not change by accident."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

import ingest

PACKAGE = Path(ingest.__file__).parent
ENTRY_POINTS = [
    "cli.py",
    "cliargs.py",
    "api.py",
    "api_dataset.py",
    "facade.py",
    "commands",
    "daemon",
    "web",
]
INTERNALS = ("ingest.catalog.sql", "ingest.catalog.db", "ingest.pipeline", "ingest.storage")
INTERNAL_NAMES = {"SqlCatalog", "open_catalog", "open_storage", "PipelineRun", "Pipeline"}
SQL = re.compile(r"\b(SELECT\s.+\sFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM)\b", re.I)


def _modules(*names: str) -> list[Path]:
    out: list[Path] = []
    for name in names:
        path = PACKAGE / name
        out += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return out


def _absolute(module: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    parts = list(module.relative_to(PACKAGE.parent).with_suffix("").parts)
    base = parts[: len(parts) - node.level]
    return ".".join([*base, *([node.module] if node.module else [])])


# the daemon's inboxes are I/O seams of their own (a folder, an S3 prefix), like storage/
SEAMS = {"daemon/inbox.py", "daemon/s3inbox.py"}


@pytest.mark.parametrize("module", _modules(*ENTRY_POINTS), ids=lambda p: p.name)
def test_entry_points_use_the_application_not_its_internals(module: Path) -> None:
    if str(module.relative_to(PACKAGE)) in SEAMS:
        return
    tree = ast.parse(module.read_text())
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            target = _absolute(module, node)
            names = {a.name for a in node.names}
            if target.startswith(INTERNALS) or names & INTERNAL_NAMES:
                bad.append(f"line {node.lineno}: from {target} import {', '.join(sorted(names))}")
        elif isinstance(node, ast.Import):
            bad += [f"line {node.lineno}: import {a.name}" for a in node.names
                    if a.name.startswith(INTERNALS)]  # fmt: skip
    assert not bad, f"{module.relative_to(PACKAGE)} reaches below the application: {bad}"


@pytest.mark.parametrize("module", _modules("."), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_sql_outside_the_catalog(module: Path) -> None:
    if module.relative_to(PACKAGE).parts[0] == "catalog":
        return
    strings = [
        n.value for n in ast.walk(ast.parse(module.read_text()))
        if isinstance(n, ast.Constant) and isinstance(n.value, str)
    ]  # fmt: skip
    assert not [s for s in strings if SQL.search(s)]


def test_no_module_over_400_lines() -> None:
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in _modules(".")
        if (n := len(p.read_text().splitlines())) > 400
    }
    assert not long


PUBLIC = {
    "Dataset": ["add_tags", "create", "create_version", "delete", "delete_version", "get", "list",
                "remove_tags"],
    "DatasetVersion": [
        "add_frames", "commit_version", "create_new_dataset", "create_snapshot", "create_version",
        "delete_frames", "export_format", "get_current", "get_frame", "get_frame_count",
        "get_masks_labels", "get_metadata", "get_single_frame", "get_version", "get_versions",
        "import_format", "iter_frames",
        "publish_version", "refresh", "set_masks_labels", "set_metadata", "update_frames",
    ],
    "DataView": ["get_count", "get_iterator", "to_dict", "to_list"],
}  # fmt: skip
#: the reference SDK's frame methods (sync; the downloads also have ``_async`` twins)
FRAME_METHODS = {
    "SingleFrame": ["add_annotation", "get_annotations", "remove_annotation",
                    "remove_annotations", "get_local_source", "get_local_mask_source"],
    "FrameGroup": ["add_global_annotation", "get_global_annotations", "remove_global_annotation",
                   "remove_global_annotations"],
}  # fmt: skip
#: DataView's calls without an async twin (they do no I/O)
DATAVIEW_SYNC = ["add_mapping_rule", "add_query", "get_label_id", "get_labels", "set_labels",
                 "set_iteration_parameters"]  # fmt: skip


def test_public_api_is_pinned() -> None:
    assert set(PUBLIC) <= set(ingest.__all__)
    for cls_name, methods in PUBLIC.items():
        cls = getattr(ingest, cls_name)
        for method in methods:
            assert callable(getattr(cls, method)), f"{cls_name}.{method}"
            assert callable(getattr(cls, f"{method}_async")), f"{cls_name}.{method}_async"
    add = inspect.signature(ingest.DatasetVersion.add_frames_async)
    assert list(add.parameters)[:3] == ["self", "frames", "upload_retries"]
    single = inspect.signature(ingest.DatasetVersion.get_single_frame_async)
    assert list(single.parameters)[:4] == ["frame_id", "dataset_name", "version_name",
                                          "dataset_id"]  # fmt: skip
    for name in ("FrameGroup", "SingleFrame", "Report", "RejectedFrame", "configure",
                 "IterationOrder", "QueryError"):  # fmt: skip
        assert name in ingest.__all__
    for cls_name, methods in FRAME_METHODS.items():
        for method in methods:
            assert callable(getattr(getattr(ingest, cls_name), method)), f"{cls_name}.{method}"
    for name in ("Annotation", "ImageAnnotation", "AlreadyExistsError"):
        assert name in ingest.__all__
    assert issubclass(ingest.AlreadyExistsError, ValueError)  # the docs catch ValueError
    snapshot = inspect.signature(ingest.DatasetVersion.create_snapshot_async)
    assert list(snapshot.parameters)[:5] == [
        "dataset_name", "publish_name", "child_name", "child_metadata", "child_comment"
    ]  # fmt: skip
    assert all(callable(getattr(ingest.DataView, name)) for name in DATAVIEW_SYNC)
    query = inspect.signature(ingest.DataView.add_query)
    assert list(query.parameters)[1:7] == ["dataset_name", "version_name", "roi_query",
                                           "frame_query", "source_query", "weight"]  # fmt: skip
    assert {o.name for o in ingest.IterationOrder} == {"sequential", "random"}


def test_the_catalog_protocol_is_exactly_what_the_application_calls() -> None:
    from ingest.catalog import Catalog

    called = set()
    app = ["service.py", "usecases.py", "browse.py", "querycases.py", "chunked.py"]
    for path in [*(PACKAGE / name for name in app), *_modules("pipeline")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Attribute)
                and node.value.attr == "catalog"
            ):
                called.add(node.attr)
    declared = {name for name in vars(Catalog) if not name.startswith("_")}
    assert called - {"close"} == declared - {"close"}
