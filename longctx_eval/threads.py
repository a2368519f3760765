"""How many CPU threads a run may use, and how they wait: safe defaults on a shared machine.

torch's default is the machine's core count: inside a Slurm job given 4 CPUs of a 64-core node, or
a container with a CPU quota, that is 16 times too many threads fighting over 4 cores. And torch's
OpenMP threads spin while they wait for work: with another busy process on the same cores, the
spinning threads take each other's time. Measured on a 2-core machine (`benchmarks/thread_policy.py`,
benchmarks/README.md): two torch processes each decoding greedily with 2 threads took a median of
31.9 s each with the default spin-waiting (2.6 s at best) and 1.31 s with `OMP_WAIT_POLICY=PASSIVE`.
Alone, passive waiting was 3.1× slower (3.0 s against 0.97 s: sleeping threads wake late for
each of decoding's many short parallel regions). Hence passive waiting only when the load average
says other work is running, never by default.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

WAIT_ENV = "OMP_WAIT_POLICY"


def available_cpus() -> int:
    """CPUs this process may use: its affinity mask, capped by a cgroup v2 CPU quota if any."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    quota = _cgroup_quota()
    return max(1, min(cpus, quota)) if quota else max(1, cpus)


def _cgroup_quota() -> int | None:
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    return math.ceil(int(quota) / int(period))


def choose_wait_policy() -> str | None:
    """Set OpenMP's wait policy to PASSIVE when other work already keeps the CPUs busy (the load
    average over the last minute is at least half the CPUs available), unless the user chose one.
    Must run before torch is imported: OpenMP reads it once. Returns the policy now in effect."""
    if WAIT_ENV not in os.environ:
        try:
            busy = os.getloadavg()[0] >= 0.5 * available_cpus()
        except OSError:
            busy = False
        if busy:
            os.environ[WAIT_ENV] = "PASSIVE"
    return os.environ.get(WAIT_ENV)


def spinning() -> bool:
    """Whether this process's OpenMP threads spin while they wait: more than one torch thread and
    no PASSIVE wait policy in the environment (OpenMP read it at start; the harness's command line
    sets it before torch is imported)."""
    import torch

    return torch.get_num_threads() > 1 and os.environ.get(WAIT_ENV, "").upper() != "PASSIVE"


class OtherWork:
    """How many cores other processes kept busy lately: the machine's busy CPU time (/proc/stat)
    less this process's own (its spinning threads included), over the time since the last look.

    The load average cannot say this inside a run: it counts this process's own threads, and it
    trails by a minute. The first look measures over a pause of `window` seconds (the process
    idle: all busy time is others')."""

    def __init__(self, window: float = 0.1) -> None:
        self.window = window
        self._last: tuple[float, float, float] | None = None  # (wall, machine busy, own CPU) seconds
        self._cores = 0.0

    @staticmethod
    def _sample() -> tuple[float, float, float] | None:
        import time

        try:
            fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
        except OSError:
            return None
        if len(fields) < 5:
            return None
        ticks = [int(x) for x in fields]
        # user nice system idle iowait irq softirq steal: busy is all but idle and iowait
        busy = (sum(ticks[:8]) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")
        own = os.times()
        return time.monotonic(), busy, own.user + own.system

    def busy_cores(self) -> float | None:
        """Cores other processes used on average since the last look (None where /proc/stat is
        not there, as on macOS: then nothing is known). Looks closer together than `window`
        return the last figure (a short window is all rounding: /proc/stat counts in 10 ms)."""
        import time

        now = self._sample()
        if now is None:
            return None
        if self._last is None:
            time.sleep(self.window)
            self._last, now = now, self._sample()
            assert now is not None
        last = self._last
        if now[0] - last[0] >= self.window:
            wall = now[0] - last[0]
            self._cores = max(0.0, ((now[1] - last[1]) - (now[2] - last[2])) / wall)
            self._last = now
        return self._cores
