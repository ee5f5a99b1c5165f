"""What this process has used: CPU seconds and peak resident memory."""

from __future__ import annotations

import os
import resource
import sys
import time
from pathlib import Path

_STATUS = Path("/proc/self/status")


def cpu_seconds() -> float:
    """User + system CPU of this process so far (``time.process_time``)."""
    return time.process_time()


def peak_rss_mb() -> float:
    """Peak resident set size of this process, in MiB.

    On Linux, ``VmHWM`` from /proc/self/status: ``ru_maxrss`` would do, but Linux carries
    it over fork and exec, so a child would report its parent's peak when that is higher.
    Elsewhere ``ru_maxrss`` (bytes on macOS, KiB on the BSDs).
    """
    try:
        for line in _STATUS.read_text(encoding="ascii").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scale = 1 if sys.platform == "darwin" else 1024
    return peak * scale / 2**20


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU of another process so far, from /proc/<pid>/stat (Linux);
    None where that cannot be read."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
        utime, stime = int(fields[11]), int(fields[12])
        return (utime + stime) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def wall() -> float:
    return time.perf_counter()
