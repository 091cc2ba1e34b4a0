"""DataView: a filtered, reproducible stream of registered frames, shaped like the reference SDK.

A facade like ``api.py``: queries are checked when added (``ingest.query``), datasets and
versions are looked up when frames are read, and the application object does the rest
(``querycases.py``: SQL counts and pages, weighted random draws).

    view = DataView(iteration_order=IterationOrder.random, iteration_infinite=False)
    view.add_query(dataset_name="Drive", version_name="v1", roi_query="car", weight=1)
    view.add_query(dataset_name="Drive", version_name="v1", frame_query='meta.city:"bremen"',
                   weight=5)
    for frame_group in view.get_iterator(): ...
"""

from __future__ import annotations

import enum
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from . import runtime
from .errors import ValidationError
from .frames import FrameGroup, Item
from .query import FrameFilter, parse_query, roi_query_node
from .querycases import Rule
from .service import Ingest, item_from_stored


class IterationOrder(enum.Enum):
    """Sequential: (context_id, timestamp) order; random: weighted draws with a seed."""

    sequential = "sequential"
    random = "random"


@dataclass(frozen=True)
class _Query:
    dataset_name: str | None
    version_name: str | None
    dataset_id: str | None
    version_id: str | None
    filter: FrameFilter
    weight: float


@dataclass(frozen=True)
class _Mapping:
    dataset_name: str | None
    version_name: str | None
    from_labels: tuple[str, ...]
    to_label: str


def _range(value: Any, field: str, kind: type) -> tuple[Any, Any] | None:
    if value is None:
        return None
    if (
        not isinstance(value, list | tuple)
        or len(value) != 2
        or any(v is not None and (isinstance(v, bool) or not isinstance(v, int | float))
               for v in value)
        or (kind is int and any(v is not None and not isinstance(v, int) for v in value))
    ):  # fmt: skip
        raise ValidationError(field, f"must be a (min, max) pair of numbers or None, got {value!r}")
    return value[0], value[1]


def _project(doc: dict[str, Any], fields: Sequence[str]) -> dict[str, Any]:
    """The dotted ``fields`` of ``doc`` (absent ones left out), nested as in ``doc``."""
    out: dict[str, Any] = {}
    for path in fields:
        value: Any = doc
        parts = path.split(".")
        for part in parts:
            value = value.get(part, _project) if isinstance(value, dict) else _project
        if value is _project:
            continue
        target = out
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
    return out


class DataView:
    """Frames selected by queries over dataset versions (``add_query``), OR-ed together."""

    def __init__(
        self,
        name: str | None = None,
        description: str | None = None,
        iteration_order: IterationOrder = IterationOrder.sequential,
        iteration_infinite: bool = False,
        maximum_number_of_frames: int | None = None,
        random_seed: int = 1337,
    ) -> None:
        self.name = name
        self.description = description
        self._queries: list[_Query] = []
        self._mappings: list[_Mapping] = []
        self._labels: dict[str, int] = {}
        self.order = IterationOrder.sequential
        self.infinite = False
        self.maximum_number_of_frames: int | None = None
        self.random_seed = 1337
        self.set_iteration_parameters(
            iteration_order, iteration_infinite, maximum_number_of_frames, random_seed
        )

    def set_iteration_parameters(
        self,
        order: IterationOrder | str | None = None,
        infinite: bool | None = None,
        maximum_number_of_frames: int | None = None,
        random_seed: int | None = None,
    ) -> None:
        """Order, repetition, frame limit and seed (arguments left None are kept)."""
        if order is not None:
            try:
                self.order = IterationOrder(getattr(order, "value", order))
            except ValueError:
                raise ValidationError(
                    "order", f"must be sequential or random, got {order!r}"
                ) from None
        if infinite is not None:
            self.infinite = bool(infinite)
        if maximum_number_of_frames is not None:
            limit = maximum_number_of_frames
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
                raise ValidationError("maximum_number_of_frames", f"must be >= 0, got {limit!r}")
            self.maximum_number_of_frames = limit
        if random_seed is not None:
            if isinstance(random_seed, bool) or not isinstance(random_seed, int):
                raise ValidationError("random_seed", f"must be an integer, got {random_seed!r}")
            self.random_seed = random_seed

    def add_query(
        self,
        dataset_name: str | None = None,
        version_name: str | None = None,
        roi_query: str | Sequence[str] | None = None,
        frame_query: str | None = None,
        source_query: str | None = None,
        weight: float = 1.0,
        *,
        dataset_id: str | None = None,
        version_id: str | None = None,
        count_range: tuple[int | None, int | None] | None = None,
        conf_range: tuple[float | None, float | None] | None = None,
    ) -> None:
        """Add a frame filter; a frame matches when one of its SingleFrames passes every rule.

        ``roi_query``: a label, a list of labels one ROI has all of, or Lucene over one ROI
        (``label``, ``confidence``); ``count_range`` (min, max) bounds the number of matching
        ROIs of a SingleFrame, ``conf_range`` their confidence. ``frame_query`` /
        ``source_query``: Lucene over the frame (``meta.KEY``, ``label``, ``source.*``, ...).
        ``weight``: the filter's share of random draws (debiasing). No version: the current.
        """
        if dataset_name is None and dataset_id is None and version_id is None:
            raise ValidationError("dataset_name", "add_query needs a dataset (name or id)")
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not weight >= 0:
            raise ValidationError("weight", f"must be a number >= 0, got {weight!r}")
        rule = FrameFilter(
            roi=None if roi_query is None else roi_query_node(roi_query),
            frame=None if frame_query is None else parse_query(frame_query, field="frame_query"),
            source=None
            if source_query is None
            else parse_query(source_query, field="source_query"),
            count_range=_range(count_range, "count_range", int),
            conf_range=_range(conf_range, "conf_range", float),
        )
        self._queries.append(
            _Query(dataset_name, version_name, dataset_id, version_id, rule, float(weight))
        )

    def add_mapping_rule(
        self,
        from_labels: Sequence[str],
        to_label: str,
        dataset_name: str | None = None,
        version_name: str | None = None,
    ) -> None:
        """Frames read (of that dataset / version, else of all) carry ``to_label`` instead of
        any of ``from_labels``."""
        labels = [from_labels] if isinstance(from_labels, str) else list(from_labels)
        if not labels or not all(isinstance(x, str) and x for x in [*labels, to_label]):
            raise ValidationError("from_labels", "labels must be non-empty strings")
        self._mappings.append(_Mapping(dataset_name, version_name, tuple(labels), to_label))

    def set_labels(self, labels: dict[str, int]) -> None:
        """Class enumeration: label -> integer (unlisted labels are -1, ``get_label_id``)."""
        for label, value in labels.items():
            if not isinstance(label, str) or isinstance(value, bool) or not isinstance(value, int):
                raise ValidationError("labels", f"expected label -> int, got {label!r}: {value!r}")
        self._labels = dict(labels)

    def get_labels(self) -> dict[str, int]:
        return dict(self._labels)

    def get_label_id(self, label: str) -> int:
        return self._labels.get(label, -1)

    # ---------------------------------------------------------------- reading

    async def _rules(self, app: Ingest) -> tuple[list[Rule], dict[str, dict[str, str]]]:
        """The queries on version ids, and each version's label mapping."""
        if not self._queries:
            raise ValidationError("DataView", "add a query first (add_query)")
        rules: list[Rule] = []
        mappings: dict[str, dict[str, str]] = {}
        for query in self._queries:
            dataset, version = await app.find_version(
                query.dataset_name,
                query.version_name,
                dataset_id=query.dataset_id,
                version_id=query.version_id,
            )
            rules.append(Rule(version.id, query.filter, query.weight))
            mapping = mappings.setdefault(version.id, {})
            for rule in self._mappings:
                if rule.dataset_name in (None, dataset.name) and rule.version_name in (
                    None,
                    version.name,
                ):
                    mapping.update(dict.fromkeys(rule.from_labels, rule.to_label))
        return rules, mappings

    async def get_count_async(self) -> int:
        """How many frames the queries select (each once, whatever the iteration order)."""
        app = await runtime.get_app()
        rules, _ = await self._rules(app)
        return await app.rules_count(rules)

    async def _batches(self) -> AsyncGenerator[list[Item], None]:
        app = await runtime.get_app()
        rules, mappings = await self._rules(app)
        if self.order is IterationOrder.random:
            batches = app.weighted_random(
                rules,
                seed=self.random_seed,
                limit=self.maximum_number_of_frames,
                infinite=self.infinite and self.maximum_number_of_frames is None,
            )
        else:
            batches = app.sequential(
                rules, limit=self.maximum_number_of_frames, infinite=self.infinite
            )
        async for batch in batches:
            yield [_relabel(item_from_stored(stored), mappings[v]) for v, stored in batch]

    async def get_iterator_async(self) -> AsyncIterator[Item]:
        """The selected frames (FrameGroups / SingleFrames), streamed a page at a time."""
        async for batch in self._batches():
            for item in batch:
                yield item

    def get_iterator(self) -> Iterator[Item]:
        """Blocking form of ``get_iterator_async``: pages are read on the library's loop."""
        batches = self._batches()
        try:
            while True:
                try:
                    batch: list[Item] = runtime.run_sync(anext(batches))  # type: ignore[arg-type]
                except StopAsyncIteration:
                    return
                yield from batch
        finally:
            runtime.run_sync(batches.aclose())

    def _finite(self) -> None:
        if self.infinite and self.maximum_number_of_frames is None:
            raise ValidationError("iteration_infinite", "an infinite DataView has no list")

    async def to_list_async(self) -> list[Item]:
        self._finite()
        return [item async for item in self.get_iterator_async()]

    async def to_dict_async(self, projection: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """The frames as JSON documents; ``projection``: dotted fields to keep."""
        docs = [item.to_doc() for item in await self.to_list_async()]
        return docs if projection is None else [_project(doc, projection) for doc in docs]

    def get_count(self) -> int:
        return runtime.run_sync(self.get_count_async())

    def to_list(self) -> list[Item]:
        self._finite()
        return list(self.get_iterator())

    def to_dict(self, projection: Sequence[str] | None = None) -> list[dict[str, Any]]:
        return runtime.run_sync(self.to_dict_async(projection))


def _relabel(item: Item, mapping: dict[str, str]) -> Item:
    """``item`` with its annotations' labels mapped (each label once, first place kept)."""
    if not mapping:
        return item
    frames = list(item.values()) if isinstance(item, FrameGroup) else [item]
    for annotation in [*item.annotations, *(a for f in frames for a in f.annotations)]:
        annotation.labels = list(dict.fromkeys(mapping.get(x, x) for x in annotation.labels))
    return item
