"""Instructions the daemon executes for the benchmark's cycle, counted by valgrind:
``python3 -m uv run --locked python -m bench.instructions [--tree DIR] [--accounts 200 400]``
(about two minutes a tree; needs ``valgrind``).

Why: on this project's shared 2-core machines the same code's CPU time moves by a third
within minutes (``bench/README.md``), so a change worth a few per cent cannot be told
from the noise by timing, not even in alternating runs. The count of instructions does
not move with the machine: two runs of one tree agree within about 0.5 %. It leaves out
the kernel's work (system calls) and what an instruction costs (cache misses), so it is
for comparing two versions of the daemon's own code, not a stand-in for the cycle's time.

How: the cycle worker (``bench.worker cycle``, the same process ``python -m bench``
times, HTTP probes off) runs under ``valgrind --tool=cachegrind --cache-sim=no`` (about
50 times slower) against a simulator that is not, once for each of two book sizes, both
at once. The difference of the two counts over the difference of the sizes is the
cycle's instructions per account: the process's start-up (imports, calendar, rules) is
the same at both sizes and drops out. ``--tree`` measures another source tree (a
checkout of another commit, e.g. ``git worktree add /tmp/old HEAD~1``) the same way, after
this one, and prints the ratio.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.book import BookSpec
from bench.procs import ROOT, BenchError, simulator

_TOTAL = re.compile(r"I\s+refs:\s+([\d,]+)")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.instructions", description=__doc__)
    parser.add_argument("--accounts", type=int, nargs=2, default=[200, 400])
    parser.add_argument("--tree", type=Path, help="also measure this source tree, and compare")
    args = parser.parse_args(argv)
    small, large = sorted(args.accounts)
    if small == large:
        parser.error("--accounts: two different sizes")
    if shutil.which("valgrind") is None:
        print("valgrind not found (Debian: apt-get install valgrind)", file=sys.stderr)
        return 2
    trees = [ROOT, *([args.tree.resolve()] if args.tree else [])]
    per_account = []
    for tree in trees:
        with ThreadPoolExecutor(2) as pool:
            counts = list(pool.map(lambda n, t=tree: count(t, n), (small, large)))
        each = (counts[1] - counts[0]) / (large - small)
        per_account.append(each)
        print(
            f"{tree}: {counts[0]:,} instructions at {small} accounts, {counts[1]:,} at "
            f"{large}: the cycle {each / 1e6:.2f} million an account "
            f"({each * BookSpec().accounts / 1e9:.1f} billion for {BookSpec().accounts:,})",
            flush=True,
        )
    if len(per_account) == 2:
        print(f"{trees[0]} against {trees[1]}: {per_account[0] / per_account[1] - 1:+.1%}")
    return 0


def count(tree: Path, accounts: int) -> int:
    """Instructions of one cycle process of ``tree`` at ``accounts`` accounts."""
    spec = BookSpec(accounts=accounts)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        with simulator(spec, work, "cycle", root=tree) as sim:
            config: dict[str, Any] = {
                "spec": spec.as_dict(),
                "rules": str(tree / "rules" / "conservative.yaml"),
                "log_level": "info",
                "sim": sim,
                "concurrency": 32,
                "batch_size": 50,
                "state_dir": str(work / "state"),
                "log_file": str(work / "cycle.log"),
                "profile_dir": None,
                "probe": False,
            }
            (work / "cycle.json").write_text(json.dumps(config), encoding="utf-8")
            command = [
                "valgrind",
                "--tool=cachegrind",
                "--cache-sim=no",
                f"--cachegrind-out-file={work / 'cachegrind.out'}",
                sys.executable,
                "-m",
                "bench.worker",
                "cycle",
                str(work / "cycle.json"),
                str(work / "result.json"),
            ]
            done = subprocess.run(  # noqa: S603 - valgrind and this interpreter, our module
                command, cwd=tree, capture_output=True, text=True, check=False
            )
    total = _TOTAL.search(done.stderr)
    if done.returncode != 0 or total is None:
        raise BenchError(
            f"the cycle under valgrind failed (exit {done.returncode}):\n{done.stderr[-3000:]}"
        )
    return int(total.group(1).replace(",", ""))


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
