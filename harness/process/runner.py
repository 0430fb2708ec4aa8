"""Launch one implementation run as a subprocess, watch it, and record what it did.

`run_process` starts a command (an argument list, never a shell) in its own session, reads its
JSON event lines from stdout as they come, samples its process tree, enforces the timeout by
killing the whole process group, and takes the exact user and system seconds and the peak RSS of
the child from the kernel (`wait4`). The child is forked from a tiny launcher
(harness/process/launcher.c) so that its peak RSS does not include the harness's own pages.
Nothing here knows what a task is.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import stat
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import psutil

from harness.process.launcher import launcher
from harness.process.monitor import Sample, TreeSampler
from harness.process.protocol import Event, parse_event

STDERR_TAIL_LINES = 20
# The event at which the runner lists the files the job maps (`mapped.tsv`): `serve`'s first
# answer, when everything a deployed program needs to answer is loaded.
MAPS_AT_METRIC = "first_answer"
MAPPED_FILE = "mapped.tsv"


@dataclass
class ProcessRecord:
    exit_code: int | None  # None when killed by a signal
    signal: int | None
    timed_out: bool
    out_of_memory_bytes: int | None  # the sampled RSS that broke the memory cap, if one did
    wall_s: float
    user_s: float
    sys_s: float
    peak_rss_bytes: int
    startup_s: float | None  # launch to the first event line
    samples: list[Sample] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    stderr_tail: str = ""
    bad_event_lines: int = 0
    first_bad_event_line: str = ""

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and self.out_of_memory_bytes is None


def run_process(
    cmd: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    log_dir: Path,
    timeout_s: float,
    interval_s: float = 0.05,
    on_event: Callable[[Event], None] | None = None,
    memory_limit_bytes: int | None = None,
) -> ProcessRecord:
    """Run `cmd` until it ends, times out or breaks the memory cap; write its logs."""
    log_dir.mkdir(parents=True, exist_ok=True)
    stderr_path = log_dir / "stderr.txt"
    rusage_path = log_dir / "rusage.json"
    rusage_path.unlink(missing_ok=True)
    tiny = launcher()
    argv = [str(tiny), str(rusage_path), *cmd] if tiny is not None else list(cmd)
    t0 = time.perf_counter()
    with stderr_path.open("wb") as stderr_file:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr_file,
            start_new_session=True,  # own process group: a timeout kills the whole tree
        )
    oom: list[int] = []
    waited: dict[str, object] = {}
    done = threading.Event()
    try:

        def over_limit(rss_bytes: int) -> None:
            oom.append(rss_bytes)
            kill_group(proc.pid)

        sampler = TreeSampler(
            proc.pid, t0, interval_s, memory_limit_bytes, over_limit, skip_root=tiny is not None
        )
        sampler.start()
        assert proc.stdout is not None
        listing = listing_maps(proc.pid, tiny is not None, log_dir / MAPPED_FILE, on_event)
        events = EventReader(proc.stdout, log_dir / "events.jsonl", t0, listing)
        reader = threading.Thread(target=events.run, name=f"events-{proc.pid}", daemon=True)
        reader.start()

        def wait_child() -> None:
            _, status, usage = os.wait4(proc.pid, 0)
            waited["t"] = time.perf_counter()
            waited["status"] = status
            waited["usage"] = usage
            done.set()

        waiter = threading.Thread(target=wait_child, name=f"wait-{proc.pid}", daemon=True)
        waiter.start()
        timed_out = not done.wait(timeout_s)
    except BaseException:  # Ctrl-C or SIGTERM of the harness: the child never outlives it
        kill_group(proc.pid)
        done.wait(5)  # the waiter thread reaps it; if it never started, Popen will
        raise
    if timed_out:
        kill_group(proc.pid)
        done.wait()
    # Descendants that outlive the child would keep stdout open; end them with the group.
    kill_group(proc.pid)
    reader.join(timeout=5)
    sampler.stop()
    if proc.stdout is not None:
        proc.stdout.close()

    status = int(waited["status"])  # type: ignore[call-overload]
    proc.returncode = os.waitstatus_to_exitcode(status)  # we reaped it; tell Popen
    wall_s = float(waited["t"]) - t0  # type: ignore[arg-type]
    child = read_rusage(rusage_path) if tiny is not None else None
    code, sig, user_s, sys_s, maxrss_kib = exit_figures(status, waited["usage"], child)
    record = ProcessRecord(
        exit_code=code,
        signal=sig,
        timed_out=timed_out,
        out_of_memory_bytes=oom[0] if oom else None,
        wall_s=round(wall_s, 6),
        user_s=round(user_s, 6),
        sys_s=round(sys_s, 6),
        peak_rss_bytes=maxrss_kib * 1024,
        startup_s=round(events.events[0].t_harness_s, 6) if events.events else None,
        samples=sampler.samples,
        events=events.events,
        stderr_tail=tail(stderr_path),
        bad_event_lines=events.bad_lines,
        first_bad_event_line=events.first_bad,
    )
    write_samples(log_dir / "samples.csv", record.samples)
    return record


class EventReader:
    """Reads a job's stdout as it comes (in a thread of its own): every event line parsed into
    `events` and logged to `events.jsonl` with the harness's time, the other non-empty lines
    counted (`bad_lines`, the first one's start kept in `first_bad`)."""

    def __init__(
        self,
        stdout: IO[bytes],
        log_path: Path,
        t0: float,
        on_event: Callable[[Event], None] | None,
    ) -> None:
        self.stdout, self.log_path, self.t0, self.on_event = stdout, log_path, t0, on_event
        self.events: list[Event] = []
        self.bad_lines = 0
        self.first_bad = ""

    def run(self) -> None:
        with self.log_path.open("w", encoding="utf-8") as log:
            for raw in self.stdout:
                t = time.perf_counter() - self.t0
                line = raw.decode("utf-8", errors="replace")
                event = parse_event(line, t)
                if event is None:
                    if line.strip():
                        self.bad_lines += 1
                        if self.bad_lines == 1:
                            self.first_bad = line.strip()[:80]
                    continue
                self.events.append(event)
                log.write(json.dumps({"t_harness_s": round(t, 6), **event.data}) + "\n")
                if self.on_event is not None:
                    self.on_event(event)


def exit_figures(
    status: int, usage: Any, child: Mapping[str, float] | None
) -> tuple[int | None, int | None, float, float, int]:
    """(exit code, signal, user s, system s, peak RSS KiB) from `wait4`'s status and rusage, or
    from the launcher's record of the job (`child`) when it saw the job end: its figures are
    the job's own, without the launcher's."""
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
    sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
    user_s = float(usage.ru_utime)
    sys_s = float(usage.ru_stime)
    maxrss_kib = int(usage.ru_maxrss)  # KiB on Linux
    if child is not None:
        code = int(child["exit_code"]) if child["exited"] else None
        sig = int(child["signal"]) if not child["exited"] else None
        user_s, sys_s = float(child["user_s"]), float(child["sys_s"])
        maxrss_kib = int(child["maxrss_kib"])
    return code, sig, user_s, sys_s, maxrss_kib


def read_rusage(path: Path) -> dict[str, float] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def kill_children() -> None:
    """Kill every child of the harness and its process group: nothing outlives an interrupt.

    Covers the window in which a signal lands inside `Popen` after the fork, before the runner
    knows the child's pid.
    """
    try:
        children = psutil.Process().children()
    except psutil.Error:
        return
    for child in children:
        kill_group(child.pid)  # jobs lead their own session and process group
        with contextlib.suppress(psutil.Error):
            child.kill()


def kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def tail(path: Path, lines: int = STDERR_TAIL_LINES) -> str:
    try:
        data = path.read_bytes()[-16384:]
    except OSError:
        return ""
    text = data.decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def write_samples(path: Path, samples: Sequence[Sample]) -> None:
    with path.open("w", encoding="utf-8") as f:
        f.write("t_s,rss_bytes,cpu_percent,processes\n")
        for s in samples:
            f.write(f"{s.t_s},{s.rss_bytes},{s.cpu_percent},{s.processes}\n")


def read_event_log(path: Path) -> list[dict[str, Any]]:
    """The events a job's `events.jsonl` (written above) holds, each with its `t_harness_s`;
    [] when the file is missing, unreadable lines skipped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(event, dict):
            out.append(event)
    return out


def listing_maps(
    pid: int, skip_root: bool, path: Path, on_event: Callable[[Event], None] | None
) -> Callable[[Event], None]:
    """`on_event`, after writing the job's mapped files to `path` at its `first_answer`."""

    def listen(event: Event) -> None:
        data = event.data
        if data.get("event") == "metric" and data.get("name") == MAPS_AT_METRIC:
            write_mapped(path, mapped_files(pid, skip_root))
        if on_event is not None:
            on_event(event)

    return listen


def mapped_files(pid: int, skip_root: bool) -> dict[str, tuple[int, bool]]:
    """Every regular file the process tree of `pid` maps (its executable, shared libraries,
    memory-mapped weights): {path: (size on disk, whether it is a process's executable)}; the
    launcher root left out when `skip_root`. What a deployed copy of the program must ship."""
    try:
        root = psutil.Process(pid)
        tree = root.children(recursive=True) + ([] if skip_root else [root])
    except psutil.Error:
        return {}
    out: dict[str, tuple[int, bool]] = {}
    for proc in tree:
        try:
            exe = proc.exe()
            lines = Path(f"/proc/{proc.pid}/maps").read_text(encoding="utf-8").splitlines()
        except (OSError, psutil.Error):
            continue
        for line in lines:
            fields = line.split(maxsplit=5)
            path = fields[5] if len(fields) == 6 else ""
            if not path.startswith("/") or path.endswith("(deleted)") or path in out:
                continue
            with contextlib.suppress(OSError):
                info = os.stat(path)
                if stat.S_ISREG(info.st_mode):
                    out[path] = (info.st_size, path == exe)
    return out


def write_mapped(path: Path, files: Mapping[str, tuple[int, bool]]) -> None:
    with path.open("w", encoding="utf-8") as f:
        f.write("bytes\texe\tpath\n")
        for name, (size, exe) in sorted(files.items()):
            f.write(f"{size}\t{int(exe)}\t{name}\n")


def read_mapped(path: Path) -> dict[str, tuple[int, bool]]:
    """`mapped.tsv` (write_mapped) as {path: (bytes, executable)}; {} when the job wrote none."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()[1:]
    except OSError:
        return {}
    out = {}
    for line in lines:
        size, exe, name = [*line.split("\t", 2), "", ""][:3]
        if size.isdigit() and name:
            out[name] = (int(size), exe == "1")
    return out
