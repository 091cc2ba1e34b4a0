"""The hostile-input corpus: small manifests, each with the outcome the README promises.

A case is some lines of one batch manifest (JSONL or CSV) and, for each line, what must
happen: ``OK`` (registered under an id, or a source for derived ids, with its frame count),
``Bad`` (rejected: error class, message fragment, how many report records carry that line's
``file:line``), or ``None`` (no record: a blank line, or a row of a group registered above).
Cases are grouped into a few batches so the corpus runs in a few ``ingest import`` processes.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from typing import Any

H = "https://h.example"  # by reference: no upload, no network


@dataclass(frozen=True)
class OK:
    id: str | None = None
    source: str | None = None  # for a derived id: the single frame's source
    frames: int = 1


@dataclass(frozen=True)
class Bad:
    error_class: str | None  # None: any class
    fragment: str = ""
    records: int = 1


Outcome = OK | Bad | None


@dataclass
class Case:
    name: str
    batch: str
    lines: list[bytes]
    expect: list[Outcome]
    xfail: str | None = None
    marks: list[Any] = field(default_factory=list)


CASES: list[Case] = []


def case(name: str, batch: str, lines: list[bytes], expect: list[Outcome], **kw: Any) -> None:
    assert len(lines) == len(expect), name
    assert name not in {c.name for c in CASES}, name
    CASES.append(Case(name, batch, lines, expect, **kw))


class Raw(str):
    """JSON text put as is into a document (too deep for ``json.dumps``)."""


def j(doc: Any) -> bytes:
    raws: list[Raw] = []

    def swap(value: Any) -> Any:
        if isinstance(value, Raw):
            raws.append(value)
            return f"@RAW{len(raws) - 1}@"
        if isinstance(value, dict):
            return {k: swap(v) for k, v in value.items()}
        if isinstance(value, list):
            return [swap(v) for v in value]
        return value

    text = json.dumps(swap(doc))
    for i, raw in enumerate(raws):
        text = text.replace(f'"@RAW{i}@"', raw)
    return text.encode()


def single(cid: str, **extra: Any) -> dict[str, Any]:
    return {"id": cid, "source": f"{H}/{cid}.jpg", **extra}


def group(cid: str, n: int = 2, **extra: Any) -> dict[str, Any]:
    frames = {f"cam{i}": {"source": f"{H}/{cid}/{i}.jpg"} for i in range(n)}
    return {"id": cid, "frames": frames, **extra}


def nested(depth: int, kind: str = "dict") -> Raw:
    """A metadata object ``depth`` levels deep (itself level 1), as JSON text."""
    opening, closing = ('{"k": ', "}") if kind == "dict" else ("[", "]")
    return Raw('{"k": ' + opening * (depth - 1) + "1" + closing * (depth - 1) + "}")


# ---------------------------------------------------------------- JSONL: good lines
J = "j1.jsonl"
case("jsonl good single", J, [j(single("j-ok-1"))], [OK("j-ok-1")])
case("jsonl good group", J, [j(group("j-ok-2"))], [OK("j-ok-2", frames=2)])
case("jsonl unicode id", J, [j(single("Zürich-☃-1"))], [OK("Zürich-☃-1")])
case("jsonl crlf line", J, [j(single("j-crlf")) + b"\r"], [OK("j-crlf")])
case("jsonl blank lines", J, [b"", b"   \t"], [None, None])
case(
    "jsonl 1 MB metadata string",
    J,
    [j(single("j-big-str", metadata={"s": "x" * (1 << 20)}))],
    [OK("j-big-str")],
)

# ---------------------------------------------------------------- JSONL: NUL in URIs
case("jsonl NUL in local source", J, [j({"id": "nul-1", "source": "img\x00.png"})],
     [Bad("ValidationError", "NUL byte")])  # fmt: skip
case("jsonl NUL in https source", J, [j({"id": "nul-2", "source": f"{H}/a\x00.jpg"})],
     [Bad("ValidationError", "NUL byte")])  # fmt: skip
case("jsonl NUL in preview", J, [j(single("nul-3", preview_uri=f"{H}/p\x00.jpg"))],
     [Bad("ValidationError", "NUL byte")])  # fmt: skip
case("jsonl NUL in mask", J, [j(single("nul-4", masks={"semantic": "m\x00.png"}))],
     [Bad("ValidationError", "NUL byte")])  # fmt: skip
case("jsonl NUL in group frame source", J,
     [j({"id": "nul-5", "frames": {"a": {"source": "a\x00.png"}}})],
     [Bad("ValidationError", "NUL byte")])  # fmt: skip

# ---------------------------------------------------------------- JSONL: nesting
for depth, ok in ((64, True), (65, False), (300, False), (1000, False)):
    for kind in ("dict", "list"):
        cid = f"depth-{depth}-{kind}"
        expect: Outcome = OK(cid) if ok else Bad("ValidationError", "nested deeper than 64")
        if depth == 1000 and kind == "dict":
            expect = Bad(None, "")  # orjson's own limit (1024 with the document's levels) or ours
        case(f"jsonl metadata nested {depth} ({kind})", J,
             [j(single(cid, metadata=nested(depth, kind=kind)))], [expect])  # fmt: skip
case("jsonl frame metadata nested 300", J,
     [j({"id": "deep-f", "frames": {"a": {"source": f"{H}/a.jpg", "metadata": nested(300)}}})],
     [Bad("ValidationError", "frames['a'].metadata")])  # fmt: skip
case("jsonl group metadata nested 300", J, [j(group("deep-g", metadata=nested(300)))],
     [Bad("ValidationError", "nested deeper than 64")])  # fmt: skip
case("jsonl annotation metadata nested 300", J,
     [j(single("deep-a", annotations=[{"labels": ["x"], "metadata": nested(300)}]))],
     [Bad("ValidationError", "annotations[0].metadata")])  # fmt: skip
for _value, _kind in ((5, "int"), ("abc", "str"), ({"labels": ["x"]}, "dict")):
    case(f"jsonl annotations given as a bare {_kind}", J,
         [j(single(f"ann-{_kind}", annotations=_value))],
         [Bad("ValidationError", f"annotations: must be a list, got {_kind}")])  # fmt: skip
case("jsonl group annotations given as an int", J, [j(group("ann-g", annotations=7))],
     [Bad("ValidationError", "annotations: must be a list, got int")])  # fmt: skip
_deep = b"[" * 1000 + b"]" * 1000
case("jsonl 1000-deep group line with 'source'", J,
     [b'{"id": "deep-src", "frames": {"a": {"source": "x"}}, "metadata": {"k": ' + _deep
      + b'}, "source": 1}'],
     [Bad("ManifestError", "nested too deeply")])  # fmt: skip
case("jsonl 2000-deep array line", J, [b"[" * 2000 + b"]" * 2000],
     [Bad("ManifestError", "invalid JSON")])  # fmt: skip
case("jsonl 100k-deep object line", J, [b'{"a":' * 100_000 + b"1" + b"}" * 100_000],
     [Bad("ManifestError", "invalid JSON")])  # fmt: skip
case("jsonl 100k unclosed brackets with source", J, [b'{"source": "x", "m": ' + b"[" * 100_000],
     [Bad("ManifestError", "invalid JSON")])  # fmt: skip

# ---------------------------------------------------------------- JSONL: 64-bit integers
for label, value, ok in (
    ("2**63-1", 2**63 - 1, True),
    ("-2**63", -(2**63), True),
    ("2**63", 2**63, False),
    ("2**64", 2**64, False),
    ("-2**63-1", -(2**63) - 1, False),
    ("10**30", 10**30, False),
):
    cid = f"int-meta-{label}"
    case(f"jsonl metadata integer {label}", J, [j(single(cid, metadata={"n": value}))],
         [OK(cid) if ok else Bad("ValidationError", "64 bits")])  # fmt: skip
    cid = f"int-list-{label}"
    case(f"jsonl metadata list integer {label}", J,
         [j(single(cid, metadata={"l": [1, {"n": value}]}))],
         [OK(cid) if ok else Bad("ValidationError", "64 bits")])  # fmt: skip
for fld, value in (("timestamp", 2**64), ("width", 2**64), ("width", 2**63), ("height", 10**30)):
    cid = f"int-{fld}-{value}"
    case(f"jsonl {fld} {value}", J, [j(single(cid, **{fld: value}))],
         [Bad("ValidationError", fld)])  # fmt: skip
case("jsonl group timestamp 2**64", J, [j(group("int-gts", timestamp=2**64))],
     [Bad("ValidationError", "timestamp")])  # fmt: skip
case("jsonl box coordinate 2**64", J,
     [j(single("int-box", annotations=[{"box2d_xywh": [2**64, 0, 1, 1]}]))],
     [Bad("ValidationError", "box2d_xywh")])  # fmt: skip
case("jsonl keypoint 2**64", J,
     [j(single("int-kp", annotations=[{"keypoints": [1, 2**64]}]))],
     [Bad("ValidationError", "keypoints")])  # fmt: skip
case("jsonl confidence 2**64", J,
     [j(single("int-conf", annotations=[{"labels": ["a"], "confidence": 2**64}]))],
     [Bad("ValidationError", "confidence")])  # fmt: skip
case("jsonl schema_version 2**64", J, [j(single("int-schema", schema_version=2**64))],
     [Bad("ValidationError", "schema_version")])  # fmt: skip
case("jsonl 5000-digit integer", J, [b'{"id": "int-5000", "source": "x", "width": 1' + b"0" * 5000
                                     + b"}"], [Bad("ManifestError", "infinity")])  # fmt: skip

# ---------------------------------------------------------------- JSONL: ids and names
case("jsonl id of 512 characters", J, [j(single("i" * 512))], [OK("i" * 512)])
case("jsonl id of 513 characters", J, [j(single("i" * 513))],
     [Bad("ValidationError", "the limit is 512")])  # fmt: skip
case("jsonl id of 100k characters", J, [j(single("L" * 100_000))],
     [Bad("ValidationError", "the limit is 512")])  # fmt: skip
CONTROLS = {"NUL": "\x00", "SOH": "\x01", "TAB": "\t", "LF": "\n", "CR": "\r", "ESC": "\x1b",
            "DEL": "\x7f", "NEL": "\x85"}  # fmt: skip
for cname, char in CONTROLS.items():
    case(f"jsonl id with {cname}", J, [j({"id": f"ctl{char}[31m", "source": f"{H}/c.jpg"})],
         [Bad("ValidationError", "control character")])  # fmt: skip
    case(f"jsonl frame name with {cname}", J,
         [j({"id": f"fname-{cname}", "frames": {f"cam{char}": {"source": f"{H}/a.jpg"}}})],
         [Bad("ValidationError", "control character")])  # fmt: skip
case("jsonl frame name of 600 characters", J,
     [j({"id": "fname-long", "frames": {"c" * 600: {"source": f"{H}/a.jpg"}}})],
     [Bad("ValidationError", "the limit is 512")])  # fmt: skip
case("jsonl group frame id with ESC", J,
     [j({"id": "fid-esc", "frames": {"a": {"id": "x\x1b", "source": f"{H}/a.jpg"}}})],
     [Bad("ValidationError", "control character")])  # fmt: skip

# ---------------------------------------------------------------- JSONL: same id twice
case("jsonl duplicate id, different documents", J,
     [j(single("dup-1")), j(single("dup-1", metadata={"v": 2}))],
     [OK("dup-1"),
      Bad("DuplicateId", "duplicate id 'dup-1': first at {file}:{line0}")])  # fmt: skip
case("jsonl duplicate id, identical documents", J, [j(single("dup-2")), j(single("dup-2"))],
     [OK("dup-2"), Bad("DuplicateId", "first at {file}:{line0}")])  # fmt: skip
case("jsonl duplicate group id", J, [j(group("dup-3")), j(group("dup-3", n=3))],
     [OK("dup-3", frames=2), Bad("DuplicateId", "first at {file}:{line0}", records=3)])  # fmt: skip
case("jsonl duplicate derived id", J,
     [j({"source": f"{H}/derived.jpg"}), j({"source": f"{H}/derived.jpg", "metadata": {"v": 1}})],
     [OK(source=f"{H}/derived.jpg"), Bad("DuplicateId", "derived from")])  # fmt: skip
case("jsonl duplicate id after a rejected line", J,
     [j(single("dup-4", width=-1)), j(single("dup-4"))],
     [Bad("ValidationError", "width"), OK("dup-4")])  # fmt: skip

# ---------------------------------------------------------------- JSONL: bytes and syntax
case("jsonl invalid UTF-8", J, [b'{"id": "utf-1", "source": "a\xff\xfe.jpg"}'],
     [Bad("ManifestError", "invalid JSON")])  # fmt: skip
case("jsonl binary garbage", J, [bytes(range(256)).replace(b"\n", b"")],
     [Bad("ManifestError", "invalid JSON")])  # fmt: skip
case("jsonl raw NUL bytes", J, [b"\x00\x00\x00"], [Bad("ManifestError", "invalid JSON")])
case("jsonl lone surrogate escape", J, [b'{"id": "sur", "source": "\\ud800"}'],
     [Bad("ManifestError", "invalid JSON")])  # fmt: skip
case("jsonl array line", J, [b"[1, 2]"], [Bad("ManifestError", "expected a JSON object")])
case("jsonl late header", J, [j({"manifest": {"dataset": "X", "version": "v"}})],
     [Bad("ManifestError", "header must be the first line")])  # fmt: skip
case("jsonl empty frames", J, [j({"id": "e", "frames": {}})], [Bad("ValidationError", "frames")])
case("jsonl unknown field", J, [j(single("unk", colour="red"))],
     [Bad("ValidationError", "unknown field")])  # fmt: skip
case("jsonl duplicate frame key", J,
     [b'{"id": "dkey", "frames": {"a": {"source": "x"}, "a": {"source": "y"}}}'],
     [Bad("ManifestError", "duplicate key 'a'")])  # fmt: skip
case("jsonl NaN", J, [b'{"id": "nan", "source": "x", "timestamp": NaN}'],
     [Bad("ManifestError", "invalid JSON")])  # fmt: skip
case("jsonl 1e400", J, [b'{"id": "inf", "source": "x", "timestamp": 1e400}'],
     [Bad("ManifestError", "invalid JSON")])  # fmt: skip
case("jsonl trailing garbage", J, [j(single("trail")) + b" x"],
     [Bad("ManifestError", "invalid JSON")])  # fmt: skip
case("jsonl source is a number", J, [b'{"id": "num-src", "source": 7}'],
     [Bad("ValidationError", "source")])  # fmt: skip
case("jsonl line over 32 MiB", J, [b'{"id": "huge", "source": "' + b"x" * (33 << 20) + b'"}'],
     [Bad("ManifestError", "longer than 32 MiB")])  # fmt: skip
case("jsonl good line after the hostile ones", J, [j(single("j-ok-last"))], [OK("j-ok-last")])

# ---------------------------------------------------------------- JSONL with a BOM
case("jsonl BOM on line 1", "bom.jsonl", [b"\xef\xbb\xbf" + j(single("bom-j"))], [OK("bom-j")])
case("jsonl BOM before the header line", "bomh.jsonl",
     [b"\xef\xbb\xbf" + j({"manifest": {"dataset": "D", "version": "v1"}}), j(single("bom-h"))],
     [None, OK("bom-h")])  # fmt: skip

# ---------------------------------------------------------------- CSV
C = "c1.csv"
CSV_HEADER = b"group_id,frame,source,width,timestamp,metadata,group_metadata"


def row(gid: str, frame: str = "", source: str = "", width: str = "", ts: str = "",
        meta: str = "", gmeta: str = "") -> bytes:  # fmt: skip
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow([gid, frame, source, width, ts, meta, gmeta])
    return buf.getvalue().encode("utf-8", "surrogateescape")


def src(name: str) -> str:
    return f"{H}/{name}.jpg"


case("csv good group", C, [row("c-ok-1", "a", src("1a")), row("c-ok-1", "b", src("1b"))],
     [OK("c-ok-1", frames=2), None])  # fmt: skip
case("csv good single (derived id)", C, [row("", "", src("c-single"))],
     [OK(source=src("c-single"))])  # fmt: skip
case("csv blank line", C, [b""], [None])
case("csv cell over 128 KiB (metadata)", C,
     [row("c-big-1", "a", src("big1"), meta=json.dumps({"s": "x" * (200 << 10)}))],
     [OK("c-big-1")])  # fmt: skip
case("csv cell over 128 KiB (group_metadata)", C,
     [row("c-big-2", "a", src("big2"), gmeta=json.dumps({"s": "y" * (300 << 10)}))],
     [OK("c-big-2")])  # fmt: skip
case("csv quoted cell over several lines", C,
     [row("c-ml", "a", src("ml"), meta='{"a":\n1}').split(b"\n")[0],
      row("c-ml", "a", src("ml"), meta='{"a":\n1}').split(b"\n")[1]],
     [OK("c-ml"), None])  # fmt: skip
case("csv short row (last cells missing)", C, [b"c-short,a," + src("short").encode()],
     [OK("c-short")])  # fmt: skip
case("csv extra cells", C, [row("c-extra", "a", src("x")) + b",surplus,more"],
     [Bad("ManifestError", "extra: 'surplus'")])  # fmt: skip
case("csv extra cells in a group's second row", C,
     [row("c-extra2", "a", src("x")), row("c-extra2", "b", src("y")) + b",surplus"],
     [Bad("GroupRejected", "group rejected"), Bad("ManifestError", "extra")])  # fmt: skip
case("csv invalid UTF-8 in source", C, [b"c-utf,a,https://h.example/\xff\xfe.jpg,,,,"],
     [Bad("ManifestError", "not valid UTF-8")])  # fmt: skip
case("csv invalid UTF-8 in group_id", C, [b"c-utf\xc3\x28,a,https://h.example/u.jpg,,,,"],
     [Bad("ManifestError", "not valid UTF-8")])  # fmt: skip
case("csv invalid UTF-8 in metadata", C,
     [b'c-utf3,a,https://h.example/u.jpg,,,"{""a"": ""\xff""}",'],
     [Bad("ManifestError", "not valid UTF-8")])  # fmt: skip
case("csv binary bytes row", C, [bytes(b for b in range(256) if b not in b"\n\r,\"")],
     [Bad(None, "")])  # fmt: skip
case("csv NUL bytes in source", C, [b"c-nul,a,https://h.example/a\x00b.jpg,,,,"],
     [Bad("ValidationError", "NUL byte")])  # fmt: skip
case("csv NUL byte in group_id", C, [b"c-nul\x00g,a,https://h.example/a.jpg,,,,"],
     [Bad("ValidationError", "control character")])  # fmt: skip
case("csv missing source", C, [row("c-nosrc", "a")], [Bad("ValidationError", "source")])
case("csv missing frame name", C, [row("c-noframe", "", src("nf"))],
     [Bad("ValidationError", "name")])  # fmt: skip
case("csv width 2**64", C, [row("c-w64", "a", src("w"), width=str(2**64))],
     [Bad("ValidationError", "64 bits")])  # fmt: skip
case("csv width 2**63", C, [row("c-w63", "a", src("w"), width=str(2**63))],
     [Bad("ValidationError", "64 bits")])  # fmt: skip
case("csv width 2**63-1", C, [row("c-w63m", "a", src("w"), width=str(2**63 - 1))],
     [OK("c-w63m")])  # fmt: skip
case("csv width of 5000 digits", C, [row("c-w5000", "a", src("w"), width="9" * 5000)],
     [Bad("ValidationError", "width")])  # fmt: skip
case("csv metadata integer 2**64", C,
     [row("c-m64", "a", src("m"), meta=json.dumps({"n": 2**64}))],
     [Bad("ValidationError", "64 bits")])  # fmt: skip
case("csv metadata integer 2**63", C,
     [row("c-m63", "a", src("m"), meta=json.dumps({"n": 2**63}))],
     [Bad("ValidationError", "64 bits")])  # fmt: skip
case("csv group_metadata integer 2**64", C,
     [row("c-gm64", "a", src("m"), gmeta=json.dumps({"n": [2**64]}))],
     [Bad("ValidationError", "64 bits")])  # fmt: skip
case("csv metadata nested 300", C,
     [row("c-deep", "a", src("d"), meta=nested(300))],
     [Bad("ValidationError", "nested deeper than 64")])  # fmt: skip
case("csv group_metadata nested 300", C,
     [row("c-gdeep", "a", src("d"), gmeta=nested(300))],
     [Bad("ValidationError", "nested deeper than 64")])  # fmt: skip
case("csv metadata nested 2000 (invalid JSON for orjson)", C,
     [row("c-deep2", "a", src("d"), meta="[" * 2000 + "]" * 2000)],
     [Bad("ValidationError", "must be JSON")])  # fmt: skip
case("csv timestamp 1e400", C, [row("c-inf", "a", src("t"), ts="1e400")],
     [Bad("ValidationError", "timestamp")])  # fmt: skip
case("csv timestamp nan", C, [row("c-nan", "a", src("t"), ts="nan")],
     [Bad("ValidationError", "timestamp")])  # fmt: skip
case("csv group id of 513 characters", C, [row("g" * 513, "a", src("g"))],
     [Bad("ValidationError", "the limit is 512")])  # fmt: skip
case("csv group id of 512 characters", C, [row("h" * 512, "a", src("g"))], [OK("h" * 512)])
for cname, char in CONTROLS.items():
    if char in "\r\n\x00":
        continue  # line breaks are CSV syntax; NUL above
    case(f"csv group id with {cname}", C, [row(f"c-ctl{char}[0m-{cname}", "a", src("c"))],
         [Bad("ValidationError", "control character")])  # fmt: skip
    case(f"csv frame name with {cname}", C, [row(f"c-fctl-{cname}", f"f{char}", src("c"))],
         [Bad("ValidationError", "control character")])  # fmt: skip
case("csv duplicate frame name", C, [row("c-dupf", "a", src("1")), row("c-dupf", "a", src("2"))],
     [Bad("GroupRejected", "group rejected"),
      Bad("ValidationError", "duplicate frame name")])  # fmt: skip
case("csv non-consecutive group", C,
     [row("c-nc", "a", src("nc1")), row("c-nc-other", "a", src("nc2")),
      row("c-nc", "b", src("nc3")), row("c-nc", "c", src("nc4"))],
     [OK("c-nc"), OK("c-nc-other"),
      Bad("NonConsecutiveGroup", "the group started at {file}:{line0}"),
      Bad("GroupRejected", "group rejected")])  # fmt: skip
case("csv malformed record inside a group", C,
     [row("c-gap", "a", src("g1")), b"c-gap,b,https://h.example/x\rjunk.jpg,,,,",
      row("c-gap", "c", src("g3"))],
     [Bad("GroupRejected", "lies between its rows"), Bad("ManifestError", "malformed CSV"),
      Bad("GroupRejected", "lies between its rows")])  # fmt: skip
case("csv line over 32 MiB", C, [row("c-huge", "a", src("h"), meta='"' + "x" * (33 << 20) + '"')],
     [Bad("ManifestError", "longer than 32 MiB")])  # fmt: skip
case("csv good row after the hostile ones", C, [row("c-ok-last", "a", src("last"))],
     [OK("c-ok-last")])  # fmt: skip

# rows without group_id: SingleFrames with derived ids
C2 = "c2.csv"
case("csv duplicate single rows", C2, [row("", "", src("s-dup")), row("", "", src("s-dup"))],
     [OK(source=src("s-dup")), Bad("DuplicateId", "first at {file}:{line0}")])  # fmt: skip
case("csv same source, other metadata", C2,
     [row("", "", src("s-dup2")), row("", "", src("s-dup2"), meta='{"v": 1}')],
     [OK(source=src("s-dup2")), Bad("DuplicateId", "derived from")])  # fmt: skip

# an unclosed quote swallows the rows after it into one cell: one rejection names the span
C3 = "c3.csv"
case("csv unclosed quote", C3,
     [row("c-q0", "a", src("q0")), b'c-q1,a,"https://h.example/q1.jpg',
      row("c-q2", "a", src("q2"))],
     [OK("c-q0"), Bad("ManifestError", "line break"), None])  # fmt: skip

case("csv BOM before the header", "bom.csv", [row("c-bom", "a", src("bom"))], [OK("c-bom")])

# ---------------------------------------------------------------- sources the store refuses
# (rejected by the pipeline, after reading: the record still names the manifest's file:line)
S = "s.jsonl"
TMP = "@TMP@"  # replaced by the case folder (see prepare_sources in the test)
case("local good png", S, [j({"id": "s-ok", "source": f"{TMP}/ok.png"})], [OK("s-ok")])
case("local FIFO", S, [j({"id": "s-fifo", "source": f"{TMP}/fifo"})],
     [Bad("PermanentStorageError", "not a regular file")])  # fmt: skip
case("local directory", S, [j({"id": "s-dir", "source": f"{TMP}/folder"})],
     [Bad("PermanentStorageError", "directory")])  # fmt: skip
case("/dev/zero", S, [j({"id": "s-zero", "source": "/dev/zero"})],
     [Bad("PermanentStorageError", "not a regular file")])  # fmt: skip
case("0-byte file", S, [j({"id": "s-empty", "source": f"{TMP}/empty.png"})],
     [Bad("PermanentStorageError", "empty")])  # fmt: skip
case("missing file", S, [j({"id": "s-missing", "source": f"{TMP}/absent.png"})],
     [Bad("PermanentStorageError", "not found")])  # fmt: skip
case("ftp:// source", S, [j({"id": "s-ftp", "source": "ftp://h.example/a.png"})],
     [Bad("UnsupportedSource", "unsupported URI scheme 'ftp'")])  # fmt: skip
case("group with one missing frame", S,
     [j({"id": "s-grp", "frames": {"ok": {"source": f"{TMP}/ok.png"},
                                  "gone": {"source": f"{TMP}/absent2.png"}}})],
     [Bad("PermanentStorageError", "not found", records=2)])  # fmt: skip
case("local good png after the refused ones", S, [j({"id": "s-ok2", "source": f"{TMP}/ok2.png"})],
     [OK("s-ok2")])  # fmt: skip
