"""The query language's parse into checked trees, and the wildcard translations (pure)."""

from __future__ import annotations

import pytest

from ingest.catalog.querysql import _glob, _like
from ingest.query import And, Match, Not, Or, QueryError, Range, parse_query, roi_query_node


def test_reference_forms_parse_to_their_trees() -> None:
    assert parse_query('label.keyword:"Car" AND NOT label.keyword:"partly_occluded"') == And(
        (Match("label", "Car"), Not(Match("label", "partly_occluded")))
    )
    assert parse_query("cat") == Match("label", "cat")
    assert parse_query("source.id:00") == Match("source.id", "00")
    assert parse_query("sources.width:640") == Match("source.width", "640", False, 640.0)
    assert parse_query("meta.city:brem*") == Match("meta.city", "brem*", True)
    assert parse_query("meta.n:12") == Match("meta.n", "12", False, 12.0)
    # words side by side are AND-ed, more loosely than an explicit OR (luqum, like Lucene)
    b_or_c = Or((Match("label", "b"), Match("label", "c")))
    assert parse_query("a b OR c") == And((Match("label", "a"), b_or_c))
    assert parse_query("label:(car OR bus)") == Or((Match("label", "car"), Match("label", "bus")))
    assert parse_query("+car -bus") == And((Match("label", "car"), Not(Match("label", "bus"))))
    assert parse_query(r"label:a\*b") == Match("label", "a*b")  # an escaped star is literal


def test_ranges_numbers_and_dates() -> None:
    assert parse_query("confidence:[0.5 TO 1}") == Range("confidence", 0.5, 1.0, True, False)
    assert parse_query("timestamp:>=2023-11-14") == Range("timestamp", 1699920000.0, None)
    assert parse_query("timestamp:<5") == Range("timestamp", None, 5.0, True, False)
    assert parse_query("meta.day:[2023-01-01 TO *]") == Range("meta.day", "2023-01-01", None)
    assert parse_query('timestamp:"2023-11-14T00:00:00+01:00"') == Match(
        "timestamp", "2023-11-14T00:00:00+01:00", False, 1699916400.0
    )


def test_roi_queries() -> None:
    assert roi_query_node(["Car", "partly occluded"]) == And(
        (Match("label", "Car"), Match("label", "partly occluded"))
    )
    assert roi_query_node("car") == Match("label", "car")
    with pytest.raises(QueryError, match="column 1: an ROI query takes label and confidence"):
        roi_query_node("source.id:front")
    with pytest.raises(ValueError, match="non-empty strings"):
        roi_query_node(["car", ""])


@pytest.mark.parametrize(
    ("query", "column"),
    [("meta.city:(a OR", 16), ("label:[a TO b]", 7), ("width:3", 1), ("a AND ) b", 7),
     ("meta.n:[1 TO x]", 8), ("label:/re/", 7), ("a\x00", 2)],
)  # fmt: skip
def test_errors_name_the_column(query: str, column: int) -> None:
    with pytest.raises(QueryError) as caught:
        parse_query(query)
    assert caught.value.column == column and caught.value.field == "q"


def test_wildcards_become_glob_and_like_with_literals_escaped() -> None:
    assert _glob("ca*[x]?") == "ca*[[]x[]]?"
    assert _glob(r"a\*b") == "a[*]b"
    assert _like("50%_c*?") == "50\\%\\_c%_"
    assert _like(r"a\*b") == "a*b"
