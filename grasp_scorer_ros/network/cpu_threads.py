"""How many CPU threads torch gets for the next inference: the cores other processes leave free.

torch runs a CPU convolution as an OpenMP parallel region over ``torch.get_num_threads()``
threads, and a region ends only when its slowest thread does. With one thread per core (torch's
default) and another process busy on one of the cores, every region waits for the thread the OS
scheduler has put behind that process: on a 2-core machine beside one busy process, ``detect()``
took about twice its quiet time, its worst call 15 times (docs/speed.md). A robot's computer always
runs other processes (the camera driver, the bridge, a browser).

:class:`ThreadPolicy` with ``threads=None`` ("auto") therefore looks, before each call, at how
much CPU the *other* processes used since the previous call (``/proc/stat`` for the whole machine,
less this process's own CPU time) and gives torch the cores they left free: a core counts as taken
when others used more than a quarter of it. A fixed number keeps torch at that number. On a system
without ``/proc/stat`` (not Linux) "auto" keeps torch's default.
"""
from __future__ import annotations

import math
import os
import time
from typing import Optional

import torch

TAKEN_SHARE = 0.25        # another process using more than this share of a core takes it
PROC_STAT = "/proc/stat"


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, e.g. a container's or taskset's)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _machine_busy_seconds() -> Optional[float]:
    """CPU seconds spent busy by the whole machine since boot (every core), or None without /proc."""
    try:
        with open(PROC_STAT) as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    values = [int(v) for v in fields[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)       # idle + iowait
    busy = sum(values[:8]) - idle                                 # user .. steal (guests are inside user)
    return busy / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


class OtherProcessesLoad:
    """Cores kept busy by other processes, measured between successive :meth:`sample` calls."""

    def __init__(self):
        self._last = self._read()

    @staticmethod
    def _read():
        machine = _machine_busy_seconds()
        return None if machine is None else (time.monotonic(), machine, _own_cpu_seconds())

    @property
    def available(self) -> bool:
        return self._last is not None

    def sample(self) -> Optional[float]:
        """Busy cores of the other processes since the previous sample (None: unknown)."""
        now = self._read()
        if now is None or self._last is None:
            return None
        (t0, machine0, own0), (t1, machine1, own1) = self._last, now
        self._last = now
        elapsed = t1 - t0
        if elapsed < 0.02:   # too short to tell from clock ticks (100 per second)
            return None
        return max(0.0, ((machine1 - machine0) - (own1 - own0)) / elapsed)


def threads_for(cores: int, others_busy: float) -> int:
    """The threads to use when other processes keep ``others_busy`` cores busy."""
    taken = max(0, math.ceil(others_busy - TAKEN_SHARE))
    return max(1, cores - taken)


class ThreadPolicy:
    """``threads=None``: auto (the cores others leave free, looked at before every call, see the
    module docstring); an int: that many, fixed. Call :meth:`before_inference` on the thread that
    runs torch, right before it runs (OpenMP's thread count belongs to the calling thread)."""

    def __init__(self, threads: Optional[int] = None, cores: Optional[int] = None):
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be at least 1 (or None: auto), got {threads}")
        self.fixed = threads
        self.cores = cores or usable_cores()
        self.load = OtherProcessesLoad() if threads is None else None
        self.current = threads or self.cores
        self.others_busy: Optional[float] = None

    @property
    def adaptive(self) -> bool:
        return self.load is not None and self.load.available

    def before_inference(self) -> int:
        """Set torch's thread count for the call about to run; returns it."""
        if self.adaptive:
            busy = self.load.sample()
            if busy is not None:
                self.others_busy = busy
                self.current = threads_for(self.cores, busy)
        if torch.get_num_threads() != self.current:
            torch.set_num_threads(self.current)
        return self.current

    def describe(self) -> str:
        if self.fixed is not None:
            return f"{self.fixed} torch thread(s) (fixed)"
        if not self.adaptive:
            return f"{self.current} torch thread(s) (torch's default: no /proc/stat to follow the load)"
        return (f"torch threads auto: the {self.cores} core(s) others leave free, now {self.current}"
                + ("" if self.others_busy is None else f" (others busy {self.others_busy:.1f} core(s))"))
