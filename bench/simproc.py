"""``python -m bench.simproc CONFIG RESULT``: serve the generated book with the real
simulator (``exerciser.sim.serve``) in a process of its own, so the CPU and memory the
benchmark reports for the daemon are the daemon's alone.

It differs from ``exerciser simulate --scenario FILE`` in two ways only: the scenario is
built from the generator's tree directly (the YAML loader needs about 20 s for 120,000
positions; ``bench.book.check_equivalence`` shows both give the same objects), and its
clock is the :class:`~bench.clock.SharedClock` the daemon uses too. Once listening it
prints one JSON line (base URL, token, anchor, epoch); on SIGTERM it stops and writes its
own CPU seconds and peak RSS, measured from the moment it was ready, to RESULT.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from bench.book import BookSpec, generate, to_scenario
from bench.clock import ANCHOR_AFTER_CLOSE, SharedClock
from bench.usage import cpu_seconds, peak_rss_mb, wall
from exerciser.sim import serve


def main(argv: list[str]) -> int:
    config_path, result_path = argv
    spec = BookSpec.from_dict(json.loads(Path(config_path).read_text(encoding="utf-8")))
    scenario = to_scenario(generate(spec))
    clock = SharedClock(anchor=spec.close_at + ANCHOR_AFTER_CLOSE, epoch=time.time())
    started = {"cpu": 0.0, "wall": 0.0}

    def ready(base_url: str) -> None:
        started.update(cpu=cpu_seconds(), wall=wall())
        line = {
            "base_url": base_url,
            "token": scenario.token,
            "anchor": clock.anchor.isoformat(),
            "epoch": clock.epoch,
            "pid": os.getpid(),
        }
        print(json.dumps(line), flush=True)

    serve(scenario, "127.0.0.1", 0, clock=clock, on_ready=ready)
    result = {
        "cpu_s": cpu_seconds() - started["cpu"],
        "served_s": wall() - started["wall"],
        "peak_rss_mb": peak_rss_mb(),
    }
    Path(result_path).write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
