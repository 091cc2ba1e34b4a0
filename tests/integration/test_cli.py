"""The ``ingest`` command, run as a subprocess, end to end."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from ..envs import clean_env
from ..images import write_png
from .test_pipeline import http_files  # noqa: F401 - fixture

ROOT = Path(__file__).resolve().parents[2]
INGEST = str(Path(sys.executable).parent / "ingest")


def run(
    args: list[str], env: dict[str, str], stdin: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [INGEST, *args], env=env, capture_output=True, text=True, input=stdin, timeout=300, cwd=cwd
    )


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    base = clean_env()
    return {
        **base,
        "INGEST_DATABASE_URL": database_url,
        "INGEST_STORAGE_URL": f"file://{tmp_path / 'objects'}",
        "INGEST_RETRY_BACKOFF_BASE_S": "0.01",
    }


def test_readme_first_command_imports_the_example_drive(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    first = next(line for line in readme.splitlines() if line.startswith("./scripts/"))
    command = first.split("#")[0].strip()
    assert command == "./scripts/demo.sh"
    env = clean_env()
    env["XDG_DATA_HOME"] = str(tmp_path)  # the embedded defaults live under it
    done = subprocess.run(
        command, shell=True, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    assert "registered 16 frames in 4" in done.stderr
    assert "ingest serve" in done.stderr  # says where to look next
    assert (tmp_path / "frame-ingest" / "catalog.sqlite3").is_file()
    listed = run(["versions", "list", "example-drive", "--json"], env)
    assert json.loads(listed.stdout)[0]["frames"] == 4


def test_import_export_reimport_gives_equal_documents(env: dict[str, str], tmp_path: Path) -> None:
    manifest = ROOT / "examples" / "drive" / "manifest.jsonl"
    first = run(
        ["import", str(manifest), "--dataset", "D", "--version", "v1", "--create", "--json"], env
    )
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)["summary"]
    assert summary["groups_committed"] == 4 and summary["objects_uploaded"] == 16

    exported = tmp_path / "v1.jsonl"
    assert (
        run(["export", "--dataset", "D", "--version", "v1", "-o", str(exported)], env).returncode
        == 0
    )
    again = run(
        ["import", str(exported), "--dataset", "D", "--version", "v2", "--create", "--json"], env
    )
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["summary"]["objects_uploaded"] == 0  # by reference
    v2 = run(["export", "--dataset", "D", "--version", "v2"], env).stdout
    assert sorted(v2.splitlines()) == sorted(exported.read_text().splitlines())

    doc = orjson.loads(exported.read_text().splitlines()[0])
    shown = run(["frames", "show", doc["id"], "--dataset", "D", "--version", "v2"], env)
    assert json.loads(shown.stdout) == doc

    assert run(["verify", "--dataset", "D"], env).returncode == 0


def good_line(root: Path, i: int) -> str:
    path = write_png(root / "cam" / f"{i}.png")
    return json.dumps(
        {
            "frames": {"cam": {"source": str(path)}, "ref": {"source": f"https://host/{i}.jpg"}},
            "timestamp": i,
        }
    )


BAD_LINES: list[tuple[str, str]] = [
    ("{bad json", "invalid JSON"),
    ("[1, 2]", "expected a JSON object"),
    ('{"width": 3}', "document.source: is missing"),
    ('{"source": "https://h/a.jpg", "width": "wide"}', "width: must be a positive integer"),
    ('{"source": "https://h/a.jpg", "height": -4}', "height: must be a positive integer"),
    ('{"source": "https://h/a.jpg", "colour": "red"}', "unknown field(s) colour"),
    (
        '{"frames": {"a": {"source": "https://h/1"}, "a": {"source": "https://h/2"}}}',
        "duplicate key 'a'",
    ),
    ('{"frames": {}}', "must be a non-empty object"),
    ('{"frames": {"a/b": {"source": "https://h/1"}}}', "must not contain '/'"),
    (
        '{"source": "https://h/a.jpg", "annotations": [{"labels": ["x"], "confidence": 2}]}',
        "confidence: must be a number in [0, 1]",
    ),
    (
        '{"source": "https://h/a.jpg", "annotations": [{"poly2d_xy": [1, 2, 3, 4, 5, 6, 7]}]}',
        "even count",
    ),
    (
        '{"source": "https://h/a.jpg", "annotations": [{"circle": [1, 2, 3]}]}',
        "unknown field(s) circle",
    ),
    (
        '{"source": "https://h/a.jpg", "annotations": [{"box2d_xywh": [1, 2, 3]}]}',
        "a box is [x, y, width, height]",
    ),
    ('{"source": "https://h/a.jpg", "annotations": [{}]}', "needs a shape or at least one label"),
    ('{"source": "https://h/a.jpg", "timestamp": "noon"}', "timestamp: must be a number"),
    ('{"source": "https://h/a.jpg", "metadata": [1]}', "metadata: must be a JSON object"),
    ('{"source": "https://h/a.jpg", "masks": 5}', "must be a list of URIs or an object"),
    ('{"schema_version": 7, "source": "https://h/a.jpg"}', "unsupported document schema 7"),
    ('{"manifest": {"dataset": "X", "version": "Y"}}', "header must be the first line"),
    ('{"source": "missing.png"}', "file not found"),
    ('{"source": "."}', "is a directory"),
    ('{"source": "empty.png"}', "is empty (0 bytes)"),
    ('{"source": "ftp://host/a.png"}', "unsupported URI scheme 'ftp'"),
    (
        '{"frames": {"ok": {"source": "https://h/ok.jpg"}, "gone": {"source": "gone.png"}}}',
        "file not found",
    ),
]


def test_bad_inputs_are_reported_with_file_line_and_the_rest_registered(
    env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "empty.png").write_bytes(b"")
    lines, expected = [], {}
    for i, (bad, message) in enumerate(BAD_LINES):
        lines.append(good_line(tmp_path, i))
        lines.append(bad)
        expected[len(lines)] = message  # 1-based line number of the bad line
    lines.append(good_line(tmp_path, 999))
    manifest = tmp_path / "corpus.jsonl"
    manifest.write_text("\n".join(lines) + "\n")
    report_path = tmp_path / "report.jsonl"

    done = run(
        [
            "import",
            str(manifest),
            "--dataset",
            "C",
            "--version",
            "v1",
            "--create",
            "--report",
            str(report_path),
            "--upload-retries",
            "1",
        ],
        env,
    )
    assert done.returncode == 1, done.stderr
    records = [json.loads(x) for x in report_path.read_text().splitlines()]
    for number, message in expected.items():
        where = f"{manifest}:{number}"
        mine = [
            r
            for r in records
            if r["where"] == where or (r["where"] is None and message in r["message"])
        ]
        assert mine, f"line {number} ({message}) missing from the report"
        assert any(message in r["message"] for r in mine), (number, mine)
        if any(r["where"] == where for r in mine):
            assert f"{where}" in done.stderr
    # frame-level failures carry the group id and the attempt count
    missing = [r for r in records if "file not found" in r["message"]]
    assert all(r["attempts"] == 1 and r["group_id"] for r in missing)
    listed = json.loads(run(["versions", "list", "C", "--json"], env).stdout)
    assert listed[0]["frames"] == len(BAD_LINES) + 1  # every good line is registered


IMPORT_D = ["import", "{m}", "--dataset", "D", "--version", "v1", "--create"]


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["import", "{m}", "--dataset", "Nope", "--version", "v1"], 2, "pass --create"),
        (
            ["import", "{tmp}/absent.jsonl", "--dataset", "D", "--version", "v1", "--create"],
            2,
            "does not exist",
        ),
        (
            ["import", "{tmp}/m.txt", "--dataset", "D", "--version", "v1", "--create"],
            2,
            "cannot tell the format",
        ),
        ([*IMPORT_D, "--database-url", "postgresql://nobody@127.0.0.1:1/none"], 3, "unreachable"),
        (
            [
                *IMPORT_D,
                "--storage-url",
                "s3://bucket/p",
                "--s3-endpoint-url",
                "http://127.0.0.1:1",
            ],
            3,
            "storage s3://bucket/p is unreachable",
        ),
        ([*IMPORT_D, "--storage-url", "ftp://x"], 2, "unsupported storage URL"),
        (["import", "{m}"], 2, "--dataset and --version"),
        (["versions", "publish", "D"], 2, "needs a version NAME"),
        (["frames", "show", "nope", "--dataset", "Nope"], 2, "dataset 'Nope' does not exist"),
    ],
)
def test_usage_and_fatal_errors_have_their_exit_codes(
    env: dict[str, str], tmp_path: Path, args: list[str], code: int, message: str
) -> None:
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"source": "https://h/a.jpg"}\n')
    (tmp_path / "m.txt").write_text("")
    argv = [a.format(m=manifest, tmp=tmp_path) for a in args]
    done = run(argv, env)
    assert done.returncode == code, done.stderr
    assert message in done.stderr


def test_published_version_is_refused_with_exit_2(env: dict[str, str], tmp_path: Path) -> None:
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"source": "https://h/a.jpg"}\n')
    assert (
        run(
            ["import", str(manifest), "--dataset", "P", "--version", "v1", "--create"], env
        ).returncode
        == 0
    )
    assert run(["versions", "publish", "P", "v1"], env).returncode == 0
    done = run(["import", str(manifest), "--dataset", "P", "--version", "v1"], env)
    assert done.returncode == 2 and "Published and read-only" in done.stderr


def test_stdin_header_csv_and_parquet(env: dict[str, str], tmp_path: Path) -> None:
    stdin = '{"manifest": {"dataset": "H", "version": "v1"}}\n{"source": "https://h/1.jpg"}\n'
    done = run(["import", "-", "--create"], env, stdin=stdin)
    assert done.returncode == 0, done.stderr

    rows = [
        {
            "group_id": "g1",
            "frame": "front",
            "source": "imgs/f1.png",
            "width": "8",
            "metadata": '{"k": 1}',
            "group_timestamp": "1.5",
        },
        {
            "group_id": "g1",
            "frame": "rear",
            "source": "https://h/r1.jpg",
            "width": "",
            "metadata": "",
            "group_timestamp": "",
        },
        {
            "group_id": "g2",
            "frame": "front",
            "source": "https://h/f2.jpg",
            "width": "x",
            "metadata": "",
            "group_timestamp": "",
        },
        {
            "group_id": "g2",
            "frame": "rear",
            "source": "https://h/r2.jpg",
            "width": "",
            "metadata": "",
            "group_timestamp": "",
        },
        {
            "group_id": "g3",
            "frame": "front",
            "source": "https://h/f3.jpg",
            "width": "",
            "metadata": "",
            "group_timestamp": "",
        },
        {
            "group_id": "g3",
            "frame": "front",
            "source": "https://h/f3b.jpg",
            "width": "",
            "metadata": "",
            "group_timestamp": "",
        },
    ]
    write_png(tmp_path / "imgs" / "f1.png", 8, 4)
    csv_path = tmp_path / "frames.csv"
    with open(csv_path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    done = run(
        [
            "import",
            str(csv_path),
            "--dataset",
            "CSV",
            "--version",
            "v1",
            "--create",
            "--report",
            str(tmp_path / "r.csv"),
        ],
        env,
    )
    assert done.returncode == 1
    assert f"{csv_path}:4" in done.stderr and "width: must be a number" in done.stderr
    assert "duplicate frame name 'front'" in done.stderr
    report = list(csv.DictReader(open(tmp_path / "r.csv")))
    assert {r["group_id"] for r in report} == {"g2", "g3"}
    g1 = json.loads(run(["frames", "show", "g1", "--dataset", "CSV"], env).stdout)
    assert g1["timestamp"] == 1.5 and g1["frames"]["front"]["metadata"] == {"k": 1}
    assert g1["frames"]["front"]["source"].startswith("file://")  # relative path resolved

    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "group_id": ["a", "a", "b"],
            "frame": ["x", "y", "x"],
            "source": ["https://h/1", "https://h/2", "https://h/3"],
            "width": [10, 10, None],
            "metadata": ['{"n": 1}', None, None],
        }
    )
    pq.write_table(table, tmp_path / "m.parquet")
    done = run(
        ["import", str(tmp_path / "m.parquet"), "--dataset", "PQ", "--version", "v1", "--create"],
        env,
    )
    assert done.returncode == 0, done.stderr
    a = json.loads(run(["frames", "show", "a", "--dataset", "PQ"], env).stdout)
    assert sorted(a["frames"]) == ["x", "y"] and a["frames"]["x"]["metadata"] == {"n": 1}

    bad = tmp_path / "bad.csv"
    bad.write_text("source,colour\nhttps://h/1,red\n")
    done = run(["import", str(bad), "--dataset", "CSV", "--version", "v1"], env)
    assert done.returncode == 2 and "unknown column(s) colour" in done.stderr


def test_import_dir_by_layout(env: dict[str, str], tmp_path: Path) -> None:
    root = tmp_path / "drive"
    for ts in (100, 200, 300):
        for cam in ("front", "rear"):
            if (ts, cam) != (300, "rear"):
                write_png(root / cam / f"{ts}.png")
    (root / "front" / "100.json").write_text(
        '{"metadata": {"lux": 5}, "annotations": [{"labels": ["car"], "box2d_xywh": [1,1,2,2]}]}'
    )
    (root / "notes.txt").write_text("hello")
    done = run(
        [
            "import-dir",
            str(root),
            "--layout",
            "{camera}/{timestamp}.png",
            "--dataset",
            "Dir",
            "--version",
            "v1",
            "--create",
            "--require-frames",
            "front,rear",
            "--report",
            str(tmp_path / "r.jsonl"),
        ],
        env,
    )
    assert done.returncode == 1, done.stderr
    assert "notes.txt matches no layout" in done.stderr
    assert "incomplete group: missing rear" in done.stderr
    exported = [json.loads(x) for x in run(["export", "--dataset", "Dir"], env).stdout.split() if x]
    assert [d["timestamp"] for d in exported] == [100, 200]
    assert exported[0]["frames"]["front"]["metadata"] == {"lux": 5}
    assert exported[0]["frames"]["front"]["annotations"][0]["box2d_xywh"] == [1, 1, 2, 2]


def test_gc_removes_only_unreferenced_objects(env: dict[str, str], tmp_path: Path) -> None:
    manifest = ROOT / "examples" / "drive" / "manifest.jsonl"
    assert (
        run(
            ["import", str(manifest), "--dataset", "G", "--version", "v1", "--create"], env
        ).returncode
        == 0
    )
    orphan = write_png(tmp_path / "objects" / "zz" / "orphan.png")
    os.utime(orphan, (1, 1))  # old enough
    young = write_png(tmp_path / "objects" / "zz" / "young.png")
    dry = run(["gc", "--dry-run"], env)
    assert dry.returncode == 0 and "orphan.png" in dry.stdout and "young.png" not in dry.stdout
    assert orphan.exists()
    done = run(["gc"], env)
    assert done.returncode == 0 and "removed 1 unreferenced" in done.stderr
    assert not orphan.exists() and young.exists()
    assert run(["verify"], env).returncode == 0  # everything referenced is still there

    # a registered object that goes missing, or changes size, is found by verify
    exported = [json.loads(x) for x in run(["export", "--dataset", "G"], env).stdout.split()]
    victim = Path(exported[0]["frames"]["front"]["source"].removeprefix("file://"))
    victim.unlink()
    grown = Path(exported[1]["frames"]["rear"]["source"].removeprefix("file://"))
    grown.write_bytes(grown.read_bytes() + b"x")
    bad = run(["verify", "--dataset", "G"], env)
    assert bad.returncode == 1
    assert "missing" in bad.stdout and "size" in bad.stdout and "2 problem(s)" in bad.stderr


def test_end_to_end_on_postgresql_and_s3(
    pg_admin_url: str, s3_bucket: tuple[str, str], tmp_path: Path
) -> None:
    from ..pg import create_database
    from ..s3server import list_keys

    endpoint, bucket = s3_bucket
    env = clean_env(
        INGEST_DATABASE_URL=create_database(pg_admin_url),
        INGEST_STORAGE_URL=f"s3://{bucket}/drive",
        INGEST_S3_ENDPOINT_URL=endpoint,
    )
    manifest = ROOT / "examples" / "drive" / "manifest.jsonl"
    done = run(
        ["import", str(manifest), "--dataset", "S3", "--version", "v1", "--create", "--json"], env
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["summary"]["objects_uploaded"] == 16
    assert len(list_keys(endpoint, bucket)) == 16
    exported = run(["export", "--dataset", "S3", "--version", "v1"], env).stdout.split("\n")
    doc = json.loads(exported[0])
    assert doc["frames"]["front"]["source"].startswith(f"s3://{bucket}/drive/")
    assert doc["frames"]["front"]["width"] == 160  # read from the PNG header before upload
    assert run(["verify"], env).returncode == 0
    again = run(["import", str(manifest), "--dataset", "S3", "--version", "v1", "--json"], env)
    assert json.loads(again.stdout)["summary"]["objects_uploaded"] == 0


def test_progress_bar_on_a_terminal_only(env: dict[str, str]) -> None:
    import pty

    manifest = ROOT / "examples" / "drive" / "manifest.jsonl"
    args = ["import", str(manifest), "--dataset", "T", "--version", "v1", "--create"]
    leader, follower = pty.openpty()
    proc = subprocess.Popen([INGEST, *args], env=env, stdout=subprocess.PIPE, stderr=follower)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    assert proc.wait(timeout=120) == 0
    os.close(leader)
    shown = b"".join(chunks).decode()
    assert "\r" in shown and "groups 4/4 | frames 16 |" in shown and "frames/s" in shown
    assert "rejected 0" in shown

    piped = run([*args, "--json"], env)  # not a terminal: no bar, JSON on stdout
    assert "groups 4/4" not in piped.stderr and json.loads(piped.stdout)["cancelled"] is False
    quiet = run([*args, "--quiet"], env)
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_ctrl_c_commits_what_is_done_reports_the_cut_groups_and_a_rerun_completes(
    sqlite_url: str, s3_bucket: tuple[str, str], fault_proxy: Any, tmp_path: Path
) -> None:
    import signal
    import time

    _, bucket = s3_bucket
    env = clean_env(
        INGEST_DATABASE_URL=sqlite_url,
        INGEST_STORAGE_URL=f"s3://{bucket}/x",
        INGEST_S3_ENDPOINT_URL=fault_proxy.endpoint,
        INGEST_CONCURRENCY="2",
        INGEST_GROUPS_IN_FLIGHT="2",
        INGEST_SHUTDOWN_GRACE_S="0.2",
        INGEST_COMMIT_INTERVAL_S="0.01",
    )
    fault_proxy.script(".png", ["delay:0.4"] * 1000, method="PUT", contains=True)
    lines = [
        json.dumps({"source": str(write_png(tmp_path / "in" / f"{i}.png"))}) for i in range(30)
    ]
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("\n".join(lines) + "\n")
    report = tmp_path / "r.jsonl"
    args = [
        "import",
        str(manifest),
        "--dataset",
        "I",
        "--version",
        "v1",
        "--create",
        "--report",
        str(report),
    ]
    proc = subprocess.Popen(
        [INGEST, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    while fault_proxy.count("PUT") < 4 and time.monotonic() < deadline:  # mid-import
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted: re-run" in err
    cut = [json.loads(x) for x in report.read_text().splitlines()]
    assert cut and all(r["error_class"] == "Interrupted" for r in cut)
    listed = json.loads(run(["versions", "list", "I", "--json"], env).stdout)
    assert 0 < listed[0]["frames"] < 30

    fault_proxy.reset()
    again = run([*args, "--json"], env)
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)["summary"]
    assert summary["groups_unchanged"] == listed[0]["frames"]
    assert summary["groups_committed"] == 30 - listed[0]["frames"]


def test_copy_remote_refuses_private_addresses_unless_allowed(
    sqlite_url: str,
    tmp_path: Path,
    http_files: Any,  # noqa: F811 - the fixture
) -> None:
    www, base = http_files
    write_png(www / "a.png")
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"id": "a", "source": f"{base}/a.png"}) + "\n")
    env = clean_env(INGEST_DATABASE_URL=sqlite_url, INGEST_STORAGE_URL=f"file://{tmp_path / 'o'}")
    args = ["import", str(manifest), *IMPORT_D[2:], "--copy-remote", "--json"]
    args += ["--report", str(tmp_path / "r.jsonl")]
    refused = run(args, env)
    assert refused.returncode == 1 and "loopback" in refused.stderr
    allowed = run([*args, "--allow-private-addresses"], env)
    assert allowed.returncode == 0, allowed.stderr
    assert json.loads(allowed.stdout)["summary"]["objects_uploaded"] == 1


def test_serve_on_a_busy_port_or_a_bad_host_is_a_clear_error(sqlite_url: str) -> None:
    import socket

    env = clean_env()
    env["INGEST_DATABASE_URL"] = sqlite_url
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        done = run(["serve", "--host", "127.0.0.1", "--port", port], env)
    assert done.returncode == 2 and "cannot serve on 127.0.0.1" in done.stderr
    assert "Traceback" not in done.stderr
    bad = run(["serve", "--host", "no-such-host.invalid", "--port", "1"], env)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_daemon_on_an_s3_inbox_needs_allowed_roots(sqlite_url: str) -> None:
    env = clean_env(
        INGEST_DATABASE_URL=sqlite_url, AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="y"
    )
    done = run(["daemon", "--inbox", "s3://bucket/inbox/", "--http-port", "0"], env)
    assert done.returncode == 2 and "--allowed-root" in done.stderr, done.stderr
