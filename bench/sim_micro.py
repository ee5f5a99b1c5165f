"""CPU per request of the simulator alone, under the benchmark's load:
``python3 -m uv run --locked python -m bench.sim_micro [--rounds R] [--tree DIR]``.

The simulator serves a 300-account book (``bench.book``, L = 20 ms) in a process of its
own (``bench.procs.simulator``). 32 keep-alive connections, each a bare asyncio stream
that writes a request and reads the reply (no HTTP library, so the load itself costs
little), go through the accounts in a mix like the benchmark's: a positions page (all of
an account's 60 rows), its balances, its instruction list. Each round reports the
simulator's CPU seconds per request (from /proc/<pid>/stat around the round) and the
mean time from writing a request to its reply's headers and to its last byte.

``--tree DIR`` runs the simulator from another source tree, to measure another version
(e.g. ``git archive main exerciser bench | tar -x -C DIR``): the child is started with
DIR as its working directory, which comes first on its ``sys.path``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.book import BookSpec
from bench.procs import ROOT, simulator

CONNECTIONS = 32
SPEC = BookSpec(accounts=300, latency_ms=20)


def user_and_system_seconds(pid: int) -> tuple[float, float]:
    """CPU seconds another process has spent in user space and in the kernel (Linux)."""
    stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def paths(spec: BookSpec) -> list[str]:
    mix = []
    for account in spec.account_ids():
        base = f"/v1/accounts/{account}"
        mix += [
            f"{base}/positions?page_size=1000",
            f"{base}/balances",
            f"{base}/positions/instructions",
        ]
    return mix


async def fetch(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[float, float]:
    """Send one request; the seconds to the reply's headers and to its last byte."""
    start = time.perf_counter()
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    headers_at = time.perf_counter()
    status = int(head.split(b" ", 2)[1])
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    await reader.readexactly(length)
    if status != 200:
        raise RuntimeError(f"{request!r} answered {status}")
    return headers_at - start, time.perf_counter() - start


async def one_round(host: str, port: int, token: str, mix: list[str]) -> list[tuple[float, float]]:
    queue = iter(mix)
    times: list[tuple[float, float]] = []

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            for path in queue:
                request = (
                    f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                    f"Authorization: Bearer {token}\r\n\r\n"
                ).encode()
                times.append(await fetch(reader, writer, request))
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):  # the server may reset, not close
                await writer.wait_closed()

    await asyncio.gather(*(connection() for _ in range(CONNECTIONS)))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sim_micro")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tree", type=Path, default=ROOT)
    args = parser.parse_args()
    mix = paths(SPEC)
    with (
        tempfile.TemporaryDirectory() as work,
        simulator(SPEC, Path(work), "sim-micro", root=args.tree.resolve()) as sim,
    ):
        url = urlsplit(sim["base_url"])
        host, port, pid = url.hostname or "127.0.0.1", url.port or 80, sim["pid"]
        asyncio.run(one_round(host, port, sim["token"], mix[: CONNECTIONS * 3]))  # warm up
        results: list[dict[str, Any]] = []
        for _ in range(args.rounds):
            user_before, system_before = user_and_system_seconds(pid)
            times = asyncio.run(one_round(host, port, sim["token"], mix))
            user, system = user_and_system_seconds(pid)
            user, system = user - user_before, system - system_before
            results.append(
                {
                    "cpu_ms_per_request": (user + system) / len(times) * 1000,
                    "system_ms_per_request": system / len(times) * 1000,
                    "headers_ms": statistics.fmean(t for t, _ in times) * 1000,
                    "reply_ms": statistics.fmean(t for _, t in times) * 1000,
                }
            )
            print(
                f"{len(times)} requests: simulator CPU {results[-1]['cpu_ms_per_request']:.3f}"
                f" ms/request ({results[-1]['system_ms_per_request']:.3f} in the kernel),"
                f" to headers {results[-1]['headers_ms']:.1f} ms,"
                f" to last byte {results[-1]['reply_ms']:.1f} ms",
                flush=True,
            )
        least = min(r["cpu_ms_per_request"] for r in results)
        print(f"least CPU per request: {least:.3f} ms", flush=True)


if __name__ == "__main__":
    main()
