"""What splitting the accounts over worker processes would give (the daemon does not
split): ``python -m bench.shards [--shards 2] [--accounts 2000]``.

The same book, simulator and cycle as ``python -m bench`` (``bench.cycle``), but the
accounts dealt round-robin over N worker processes, each running ``run_day`` on its share
(``PlanRequest.account_ids``) with C / N connections, all against one simulator and one
SQLite journal file (created before they start; SQLite serialises their writes). The
workers wait for a common start time, so the span is from the first ``run_day`` start to
the last end. Prints the span, the workers' CPU, the simulator's CPU over the span, and
the span against the single-process baseline's extrapolation when one is given.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.book import BookSpec
from bench.procs import ROOT, BenchError, simulator
from bench.usage import process_cpu_seconds
from exerciser.adapters.journal import SqliteJournal

STARTUP_S = 10.0  # time for every worker to import and set up before the common start


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.shards", description=__doc__)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--accounts", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--rules", default=str(ROOT / "rules" / "conservative.yaml"))
    parser.add_argument("--baseline-s", type=float, help="the sequential baseline, seconds")
    args = parser.parse_args(argv)
    spec = BookSpec.from_dict({**BookSpec().as_dict(), "accounts": args.accounts})
    with tempfile.TemporaryDirectory(prefix="bench-shards-") as tmp:
        result = measure(spec, Path(tmp), args)
    print(json.dumps(result, indent=1))
    return 0


def measure(spec: BookSpec, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    ids = spec.account_ids()
    shares = [ids[i :: args.shards] for i in range(args.shards)]
    state = work / "state"
    state.mkdir()
    SqliteJournal.open(state / "journal.sqlite3").close()  # the schema, before the workers
    with simulator(spec, work, "shards") as sim:
        sim_cpu0 = process_cpu_seconds(sim["pid"])
        start_at = time.time() + STARTUP_S
        running = []
        for n, share in enumerate(shares):
            config = {
                "spec": spec.as_dict(),
                "rules": args.rules,
                "log_level": "info",
                "sim": sim,
                "concurrency": max(1, args.concurrency // args.shards),
                "batch_size": args.batch_size,
                "state_dir": str(state),
                "log_file": str(work / f"shard{n}.log"),
                "account_ids": share,
                "start_at": start_at,
                "probe": False,
            }
            config_path, result_path = work / f"shard{n}.json", work / f"shard{n}-result.json"
            config_path.write_text(json.dumps(config), encoding="utf-8")
            command = [sys.executable, "-m", "bench.worker", "cycle", str(config_path)]
            process = subprocess.Popen(  # noqa: S603 - this interpreter, our own module
                [*command, str(result_path)], cwd=ROOT, stderr=subprocess.PIPE, text=True
            )
            running.append((process, result_path))
        results = []
        for process, result_path in running:
            _, errors = process.communicate()
            if process.returncode != 0:
                raise BenchError(f"a shard failed (exit {process.returncode}):\n{errors[-2000:]}")
            results.append(json.loads(result_path.read_text(encoding="utf-8")))
        sim_cpu = process_cpu_seconds(sim["pid"])
    span = max(r["span"]["ended"] for r in results) - min(r["span"]["started"] for r in results)
    out: dict[str, Any] = {
        "shards": args.shards,
        "accounts": args.accounts,
        "concurrency_per_shard": max(1, args.concurrency // args.shards),
        "span_s": round(span, 3),
        "late_start_s": round(
            max(r["span"]["started"] for r in results) - min(r["span"]["started"] for r in results),
            3,
        ),
        "shard_cycle_s": [r["cycle_s"] for r in results],
        "shard_cpu_s": [r["cpu_s"] for r in results],
        "workers_cpu_s": round(sum(r["cpu_s"] for r in results), 3),
        "simulator_cpu_s": (
            round(sim_cpu - sim_cpu0, 2) if sim_cpu is not None and sim_cpu0 is not None else None
        ),
        "requests": sum(r["requests"]["total"] for r in results),
        "requests_by_endpoint": _summed([r["requests"]["by_endpoint"] for r in results]),
        "instructions": sum(r["outcome"]["instructions"] for r in results),
        "all_terminal": all(r["outcome"]["all_terminal"] for r in results),
        "peak_rss_mb": [r["rss_mb"]["peak"] for r in results],
    }
    if args.baseline_s:
        out["baseline_vs_span"] = round(args.baseline_s / span, 1)
    return out


def _summed(counts: list[dict[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for count in counts:
        for name, n in count.items():
            total[name] = total.get(name, 0) + n
    return dict(sorted(total.items()))


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
