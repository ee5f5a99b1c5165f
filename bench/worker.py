"""``python -m bench.worker KIND CONFIG RESULT``: one measurement in a fresh process.

KIND is ``cycle``, ``baseline`` or ``core``. CONFIG and RESULT are JSON files. Each
measurement runs in its own process so that its CPU time and peak RSS are its own (the
simulator has a process of its own too). Logs go, as JSON lines at the configured level,
to the file the config names, as the daemon's go to journald. With ``profile_dir`` set, the
measured call is profiled with pyinstrument instead (its figures are then not the
measured ones).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import baseline, core, cycle
from exerciser.logging import configure_logging

KINDS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "cycle": cycle.run,
    "baseline": baseline.run,
    "core": core.run,
}


def main(argv: list[str]) -> int:
    kind, config_path, result_path = argv
    config = json.loads(Path(config_path).read_text(encoding="utf-8"))
    log_path = Path(config["log_file"])
    with log_path.open("w", encoding="utf-8") as log:
        configure_logging(level=config.get("log_level", "info"), fmt="json", stream=log)
        result = KINDS[kind](config)
    with log_path.open(encoding="utf-8") as log:
        result["log_lines"] = sum(1 for _ in log)
    Path(result_path).write_text(json.dumps(result, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
