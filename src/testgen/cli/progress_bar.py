"""Progress on the terminal: one line redrawn in place, or a line per change when piped."""

from __future__ import annotations

import shutil
from typing import Any, TextIO

from testgen.data.job_states import JobStatus

STATUS_LABELS = {
    JobStatus.queued: "Queued",
    JobStatus.started: "Starting",
    JobStatus.generating: "Generating",
    JobStatus.completed: "Done",
    JobStatus.failed: "Failed",
    JobStatus.cancelled: "Cancelled",
}


class ProgressBar:
    """One line redrawn in place on a terminal; a line per change when the output is a file or pipe."""

    def __init__(self, stream: TextIO, width: int = 30) -> None:
        self.stream = stream
        self.width = width
        self.tty = stream.isatty()
        self.last: tuple[str, int, str] | None = None
        self.drawn = False

    def update(self, job: dict[str, Any]) -> None:
        status, progress, message = job["status"], int(job.get("progress") or 0), job.get("message") or ""
        if (status, progress, message) == self.last:
            return
        self.last = (status, progress, message)
        filled = self.width * progress // 100
        bar = "#" * filled + "." * (self.width - filled)
        label = STATUS_LABELS.get(status, status)
        line = f"[{bar}] {progress:3d}%  " + ": ".join(part for part in (label, message) if part)
        self._write(line)

    def note(self, text: str) -> None:
        self._write(text)

    def _write(self, line: str) -> None:
        if self.tty:
            columns = shutil.get_terminal_size((80, 24)).columns
            self.stream.write("\r\x1b[2K" + line[: columns - 1])
            self.drawn = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False
