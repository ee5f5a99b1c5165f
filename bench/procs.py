"""Child processes: the simulator (``bench.simproc``) and one measurement each
(``bench.worker``), all with this interpreter, from the repository root."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.book import BookSpec

ROOT = Path(__file__).resolve().parent.parent
STOP_TIMEOUT = 30.0


class BenchError(Exception):
    """A child process failed; the message carries the end of its stderr."""


def _tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


@contextmanager
def simulator(
    spec: BookSpec, work: Path, name: str, *, root: Path = ROOT
) -> Iterator[dict[str, Any]]:
    """A simulator process serving ``spec``'s book. Yields its ready line (base_url,
    token, anchor, epoch); after the block, ``["usage"]`` holds its CPU and peak RSS.
    ``root`` is the source tree it runs from (another checkout, to compare versions)."""
    config, result = work / f"{name}-sim.json", work / f"{name}-sim-result.json"
    config.write_text(json.dumps(spec.as_dict()), encoding="utf-8")
    command = [sys.executable, "-m", "bench.simproc", str(config), str(result)]
    with (work / f"{name}-sim.stderr").open("w+", encoding="utf-8") as errors:
        process = subprocess.Popen(  # noqa: S603 - this interpreter, our own module
            command, cwd=root, stdout=subprocess.PIPE, stderr=errors, text=True
        )
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            if not line:
                process.wait(timeout=STOP_TIMEOUT)
                errors.seek(0)
                raise BenchError(f"the simulator did not start:\n{_tail(errors.read())}")
            info: dict[str, Any] = json.loads(line)
            yield info
        finally:
            if process.poll() is None:
                process.terminate()  # SIGTERM: serve() returns and the usage is written
                process.wait(timeout=STOP_TIMEOUT)
    info["usage"] = json.loads(result.read_text(encoding="utf-8")) if result.exists() else None


def worker(kind: str, config: dict[str, Any], work: Path, name: str) -> dict[str, Any]:
    """Run one measurement (``bench.worker``) in a fresh process; return its result."""
    config_path, result_path = work / f"{name}.json", work / f"{name}-result.json"
    config_path.write_text(json.dumps(config, indent=1), encoding="utf-8")
    command = [sys.executable, "-m", "bench.worker", kind, str(config_path), str(result_path)]
    done = subprocess.run(  # noqa: S603 - this interpreter, our own module
        command, cwd=ROOT, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise BenchError(f"{name} failed (exit {done.returncode}):\n{_tail(done.stderr)}")
    result: dict[str, Any] = json.loads(result_path.read_text(encoding="utf-8"))
    return result
