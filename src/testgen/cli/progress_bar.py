"""Progress on the terminal: one line redrawn in place, or a line per change when piped."""

from __future__ import annotations

import shutil
from typing import Any, TextIO

from testgen.cli.terminal_text import printable
from testgen.core.i18n import UI_DEFAULT, label
from testgen.data.job_states import JobStatus


def status_label(status: str, language: str = UI_DEFAULT) -> str:
    """What the bar says for a job status, in the CLI's language (core/locales)."""
    return label(language, f"cli.status.{status}") if status in set(JobStatus) else status


class ProgressBar:
    """One line redrawn in place on a terminal; a line per change when the output is a file or pipe."""

    def __init__(self, stream: TextIO, width: int = 30, language: str = UI_DEFAULT) -> None:
        self.stream = stream
        self.language = language
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
        said = status_label(status, self.language)
        line = f"[{bar}] {progress:3d}%  " + ": ".join(part for part in (said, message) if part)
        self._write(line)

    def note(self, text: str) -> None:
        self._write(text)

    def _write(self, line: str) -> None:
        line = printable(line)  # one line whatever the server's message holds
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
