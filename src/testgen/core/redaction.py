"""Secrets out of text that a remote server sent back: the one scrubber of the Jira client and the
model providers, since a server or a proxy may quote the credential it received in its error.

A secret is found however it is echoed: in any case, percent-encoded (at any depth up to
MAX_DECODE_DEPTH, `+` for a space), with spaces or other separators between its characters, cut
short or cut out of the middle (any run of MIN_SECRET_RUN of its letters and digits), and
base64-encoded, alone or inside a longer value such as the `user:token` of a Basic Authorization
header. Each such run, what lies between its characters and the base64 padding after it become
one `[redacted]`.

The text is cut to MAX_SCRUBBED_CHARS before it is read, so the work is bounded (a few passes of
MIN_SECRET_RUN steps per character) whatever a hostile server sends.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable

REDACTED = "[redacted]"
MIN_SECRET_RUN = 8  # letters and digits of a secret in a row that count as a leak
MIN_SECRET_CHARS = 4  # a shorter secret (in letters and digits) is only replaced where it is whole
MAX_SCRUBBED_CHARS = 8192  # more of a server's text than any message shows
MAX_DECODE_DEPTH = 3  # %2541 is "A" encoded twice
_HEX = frozenset("0123456789abcdefABCDEF")

# One character of the text as it is read: the character, and the span of the original text it
# stands for (three characters for a decoded %41).
_Char = tuple[str, int, int]


def _skeleton(chars: Iterable[_Char]) -> tuple[str, list[int], list[int]]:
    """The letters and digits of `chars` in lower case, with the span each comes from."""
    letters: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for char, start, end in chars:
        for lower in char.lower():
            if lower.isalnum():
                letters.append(lower)
                starts.append(start)
                ends.append(end)
    return "".join(letters), starts, ends


def _percent_decoded(chars: list[_Char]) -> list[_Char]:
    """`chars` with each %XX read as the character it encodes (`+` as a space)."""
    out: list[_Char] = []
    i, n = 0, len(chars)
    while i < n:
        char, start, end = chars[i]
        if char == "%" and i + 2 < n and chars[i + 1][0] in _HEX and chars[i + 2][0] in _HEX:
            out.append((chr(int(chars[i + 1][0] + chars[i + 2][0], 16)), start, chars[i + 2][2]))
            i += 3
            continue
        out.append((" ", start, end) if char == "+" else chars[i])
        i += 1
    return out


def _base64_cores(secret: str) -> list[str]:
    """The base64 characters that encode only `secret`'s bytes, at each of the three alignments it
    may have inside a longer encoded value (`user:token`): the same whatever surrounds it."""
    data = secret.encode()
    cores = []
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + data).decode()
        first = -(-shift * 8 // 6)  # the first character whose six bits are all the secret's
        end = (shift + len(data)) * 8 // 6  # past the last such character
        cores.append(encoded[first:end])
    return cores


class Scrubber:
    """Removes `secrets` (and every echo of them, see the module) from a text; `None` and empty
    secrets are skipped. Build one per set of credentials and call it on each text."""

    def __init__(self, *secrets: str | None) -> None:
        plain = [s.strip() for s in secrets if s and s.strip()]
        self._whole: list[str] = []  # too short to look for runs of: replaced where whole only
        windows: dict[int, set[str]] = {}
        forms = [*plain, *(core for s in plain for core in _base64_cores(s))]
        for form in forms:
            letters = _skeleton((c, 0, 0) for c in form)[0]
            if len(letters) < MIN_SECRET_CHARS:
                if form in plain and len(form) >= MIN_SECRET_CHARS:
                    self._whole.append(form)
                continue
            size = min(MIN_SECRET_RUN, len(letters))
            windows.setdefault(size, set()).update(
                letters[i : i + size] for i in range(len(letters) - size + 1)
            )
        self._windows = sorted(windows.items())
        self._whole.sort(key=len, reverse=True)

    def __bool__(self) -> bool:
        return bool(self._windows or self._whole)

    def __call__(self, text: str) -> str:
        """`text` (at most MAX_SCRUBBED_CHARS of it) with every echo of a secret replaced by `[redacted]`."""
        if len(text) > MAX_SCRUBBED_CHARS:
            text = text[: MAX_SCRUBBED_CHARS - 1] + "…"
        for whole in self._whole:
            text = text.replace(whole, REDACTED)
        if not self._windows:
            return text
        # +1 where a hidden span starts, -1 where it ends: a character is hidden where the sum is > 0.
        marks = [0] * (len(text) + 1)
        chars: list[_Char] = [(c, i, i + 1) for i, c in enumerate(text)]
        for depth in range(MAX_DECODE_DEPTH + 1):
            if depth:
                decoded = _percent_decoded(chars)
                if len(decoded) == len(chars):
                    break  # nothing (more) to decode
                chars = decoded
            letters, starts, ends = _skeleton(chars)
            for size, windows in self._windows:
                for i in range(len(letters) - size + 1):
                    if letters[i : i + size] in windows:
                        marks[starts[i]] += 1
                        marks[ends[i + size - 1]] -= 1
        out: list[str] = []
        depth = 0
        padding = 0  # the "=" of base64 padding right after a hidden run goes with it
        for i, char in enumerate(text):
            hidden_before = depth > 0
            depth += marks[i]
            if depth > 0:
                if not hidden_before:
                    out.append(REDACTED)
                padding = 2
            elif char == "=" and padding:
                padding -= 1
            else:
                padding = 0
                out.append(char)
        return "".join(out)

    def leaks(self, text: str) -> bool:
        """Whether `text` may hold an echo of a secret (a text too long to read whole may)."""
        return len(text) > MAX_SCRUBBED_CHARS or self(text) != text

    def safe_cause(self, exc: BaseException) -> BaseException | None:
        """The original error to chain, only when its text cannot leak a secret."""
        return None if self.leaks(str(exc)) or self.leaks(repr(exc.args)) else exc
