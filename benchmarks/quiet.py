"""Was the machine quiet while we measured?  A monitor of the CPU time other processes
took during a benchmark (issue 20: measurements that survive a shared machine).

The load average alone cannot say it: it counts this benchmark's own threads too, and it
lags by minutes.  :class:`LoadMonitor` reads the machine's busy CPU time (``/proc/stat``)
and this process's own CPU time, children included (:func:`os.times`), at the start and
the end of a measurement; what the machine spent beyond our own share was spent by other
processes.  A result whose other processes took more than :data:`QUIET_SHARE` of the
machine's CPU time is marked ``"quiet": False``, and the reports say so.

Off Linux (no ``/proc/stat``) the share is None and so is ``quiet``: not measured.
"""

from __future__ import annotations

import os
import threading
import time

#: Largest share of the machine's CPU time (all cores over the measurement's wall time)
#: that other processes may take for a measurement to count as quiet (ours).
QUIET_SHARE = 0.10


def _busy_seconds() -> float | None:
    """Seconds of CPU time the whole machine has spent busy since boot (all cores)."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    ticks = [int(v) for v in fields[1:]]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    # guest time (fields 9, 10) is already counted in user and nice.
    busy = sum(ticks[:8]) - idle
    return busy / os.sysconf("SC_CLK_TCK")


def _own_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _load1() -> float | None:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


class LoadMonitor:
    """Context manager measuring what other processes took while the body ran.

    Args:
      interval: seconds between samples of the 1-minute load average (a daemon thread;
        only its maximum is kept).

    Examples:
      >>> with LoadMonitor() as mon:
      ...     _ = sum(i * i for i in range(10_000))
      >>> sorted(mon.result())  # doctest: +NORMALIZE_WHITESPACE
      ['cores', 'load_after', 'load_before', 'load_max', 'others_cpu_s', 'others_share',
       'own_cpu_s', 'quiet', 'wall_s']
    """

    def __init__(self, interval: float = 5.0):
        self.interval = interval
        self._stop = threading.Event()
        self._load_max: float | None = None
        self._out: dict | None = None

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            v = _load1()
            if v is not None:
                self._load_max = v if self._load_max is None else max(self._load_max, v)

    def __enter__(self) -> LoadMonitor:
        self._load_before = _load1()
        self._load_max = self._load_before
        self._busy0, self._own0, self._t0 = _busy_seconds(), _own_seconds(), time.monotonic()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        busy1, own1, t1 = _busy_seconds(), _own_seconds(), time.monotonic()
        self._stop.set()
        self._thread.join(timeout=1.0)
        wall = max(t1 - self._t0, 1e-9)
        cores = os.cpu_count() or 1
        own = own1 - self._own0
        others = share = quiet = None
        if busy1 is not None and self._busy0 is not None:
            others = max(busy1 - self._busy0 - own, 0.0)
            share = others / (wall * cores)
            quiet = share <= QUIET_SHARE
        after = _load1()
        self._out = {"wall_s": round(wall, 3), "cores": cores, "own_cpu_s": round(own, 3),
                     "others_cpu_s": None if others is None else round(others, 3),
                     "others_share": None if share is None else round(share, 4),
                     "quiet": quiet, "load_before": self._load_before,
                     "load_max": max(v for v in (self._load_max, after) if v is not None)
                     if after is not None else self._load_max,
                     "load_after": after}

    def result(self) -> dict:
        """``{"wall_s", "cores", "own_cpu_s", "others_cpu_s", "others_share", "quiet",
        "load_before", "load_max", "load_after"}`` (after the ``with`` block):
        ``others_share`` is the other processes' CPU time over ``wall_s × cores``."""
        if self._out is None:
            raise RuntimeError("LoadMonitor.result() is only available after the with block")
        return self._out


def describe(load: dict | None) -> str:
    """One phrase for a report: quiet, or how much of the machine others took."""
    if not load or load.get("others_share") is None:
        return "machine load not measured"
    share = f"other processes took {load['others_share']:.0%} of the CPU time"
    return f"quiet ({share})" if load["quiet"] else f"**under load** ({share})"
