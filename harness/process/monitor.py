"""Resource monitor of one implementation run: a psutil sampler of the whole process tree.

`TreeSampler` samples the RSS and CPU of a process and all its descendants every `interval_s`
(default 50 ms) in a background thread. The sampled maximum can miss a short spike, so the
runner takes the exact peak from the kernel (`wait4` rusage) as well; both are recorded.

With a memory cap, the sampler calls `on_limit` as soon as the tree's RSS exceeds it (the runner
then kills the process group and records the run as out of memory). The cap is enforced at the
sampling interval: a spike shorter than one interval can overshoot it, which the kernel's exact
peak then shows.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import psutil


@dataclass(frozen=True)
class Sample:
    t_s: float  # seconds since the process was launched
    rss_bytes: int  # summed over the process tree
    cpu_percent: float  # over the last interval, not normalised: 2 busy cores read 200
    processes: int


class TreeSampler(threading.Thread):
    """Samples a process tree until `stop()`; PID reuse and exit races are tolerated."""

    def __init__(
        self,
        pid: int,
        t0: float,
        interval_s: float = 0.05,
        limit_bytes: int | None = None,
        on_limit: Callable[[int], None] | None = None,
        skip_root: bool = False,
    ) -> None:
        super().__init__(name=f"sampler-{pid}", daemon=True)
        self.pid = pid
        self.t0 = t0
        self.interval_s = interval_s
        self.limit_bytes = limit_bytes
        self.on_limit = on_limit
        self.skip_root = skip_root  # the root is the launcher, not part of the job
        self.samples: list[Sample] = []
        self._stop_event = threading.Event()
        self._procs: dict[int, psutil.Process] = {}
        self._cpu_prev: dict[int, float] = {}

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)

    def run(self) -> None:
        try:
            root = psutil.Process(self.pid)
        except psutil.Error:
            return
        last_t = time.perf_counter()
        self._cpu_prev = {}
        while not self._stop_event.is_set():
            sample = self._sample(root, last_t)
            last_t = time.perf_counter()
            if sample is not None:
                self.samples.append(sample)
                if self.limit_bytes is not None and sample.rss_bytes > self.limit_bytes:
                    if self.on_limit is not None:
                        self.on_limit(sample.rss_bytes)
                    return
            self._stop_event.wait(self.interval_s)

    def _tree(self, root: psutil.Process) -> list[psutil.Process]:
        try:
            children = root.children(recursive=True)
        except psutil.Error:
            children = []
        procs = [] if self.skip_root else [root]
        for child in children:
            known = self._procs.get(child.pid)
            # Keep our own Process object so psutil's create-time check catches PID reuse.
            if known is None or not known.is_running():
                self._procs[child.pid] = child
                known = child
            procs.append(known)
        return procs

    def _sample(self, root: psutil.Process, last_t: float) -> Sample | None:
        rss = 0
        cpu_delta = 0.0
        alive = 0
        cpu_now: dict[int, float] = {}
        for proc in self._tree(root):
            try:
                with proc.oneshot():
                    mem = proc.memory_info().rss
                    times = proc.cpu_times()
            except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
                continue
            cpu = times.user + times.system
            cpu_now[proc.pid] = cpu
            cpu_delta += cpu - self._cpu_prev.get(proc.pid, 0.0)
            rss += mem
            alive += 1
        now = time.perf_counter()
        first = not self._cpu_prev
        self._cpu_prev = cpu_now
        if alive == 0:
            return None
        dt = max(now - last_t, 1e-6)
        # The first sample has no previous CPU reading: report the average since launch.
        pct = 100.0 * cpu_delta / (now - self.t0 if first else dt)
        return Sample(round(now - self.t0, 4), rss, round(max(pct, 0.0), 1), alive)
