"""Events on stdout: one JSON object per line, flushed at once (docs/protocol.md, "Events").

Every event carries `event` and `t`, the seconds since the program started (`__main__` takes
`time.perf_counter()` before anything else and passes it here). Human-readable logs go to
stderr, never stdout. Tasks receive an `Events` object and call `phase`, `progress` and
`metric`; `cli` emits `start` and `end`.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

PROTOCOL = 1
PROGRESS_INTERVAL_S = 0.1


class Events:
    """Writes protocol events as JSON lines to a text stream (stdout by default)."""

    def __init__(self, started: float, stream: IO[str] | None = None) -> None:
        self._started = started
        self._stream = stream if stream is not None else sys.stdout
        self._last_progress = -1.0

    def elapsed_s(self) -> float:
        """Seconds since the program started."""
        return time.perf_counter() - self._started

    def emit(self, event: str, **fields: Any) -> None:
        """Write one event line and flush it."""
        record: dict[str, Any] = {"event": event, "t": round(self.elapsed_s(), 6)}
        record.update(fields)
        self._stream.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._stream.flush()

    def start(self, impl: str, task: str) -> None:
        self.emit("start", impl=impl, task=task, protocol=PROTOCOL)

    def end(self, ok: bool) -> None:
        self.emit("end", ok=ok)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Emit `phase` begin/end around a block (end is emitted only if the block succeeds)."""
        self.emit("phase", name=name, state="begin")
        yield
        self.emit("phase", name=name, state="end")

    def progress(self, done: int, total: int, unit: str, force: bool = False) -> None:
        """Emit `progress` at most every 0.1 s (always when `force` or when done == total)."""
        now = time.perf_counter()
        if force or done >= total or now - self._last_progress >= PROGRESS_INTERVAL_S:
            self._last_progress = now
            self.emit("progress", done=done, total=total, unit=unit)

    def metric(
        self, name: str, value: float, step: int | None = None, epoch: int | None = None
    ) -> None:
        fields: dict[str, Any] = {"name": name, "value": value}
        if step is not None:
            fields["step"] = step
        if epoch is not None:
            fields["epoch"] = epoch
        self.emit("metric", **fields)
