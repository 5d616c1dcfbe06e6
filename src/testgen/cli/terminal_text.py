"""What the CLI writes to a terminal: text from the server (titles, messages, errors) made harmless.

A story, a model's answer or an error message may hold control characters: an escape sequence that
clears the screen, recolours it or writes the clipboard (OSC 52), a carriage return that overwrites
the line, a bidi override that reorders it. `printable()` shows each as a visible stand-in instead:
C0 characters and DEL as their control pictures (ESC as `␛`), C1 characters, bidi controls and line
separators as `\\x9b` or `\\u202e` escapes. `echo()` prints through it; every line of a client
command goes out that way.
"""

from __future__ import annotations

from typing import TextIO

# C0 controls and DEL: their control pictures (U+2400 to U+241F, U+2421).
_PICTURES = {code: 0x2400 + code for code in range(0x20)} | {0x7F: 0x2421}
# C1 controls (0x9B is a one-byte CSI), bidi controls, and the line and paragraph separators.
_ESCAPED = [
    *range(0x80, 0xA0),
    0x061C,
    0x200E,
    0x200F,
    *range(0x202A, 0x202F),
    *range(0x2066, 0x206A),
    0x2028,
    0x2029,
]
_ONE_LINE: dict[int, str] = {code: chr(picture) for code, picture in _PICTURES.items()} | {
    code: f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" for code in _ESCAPED
}
# Text of several lines keeps its line breaks and tabs.
_LINES = {code: stand_in for code, stand_in in _ONE_LINE.items() if chr(code) not in "\n\t"}


def printable(text: object, *, lines: bool = False) -> str:
    """`text` with every control character shown as a visible stand-in; with `lines`, newlines and
    tabs are kept."""
    return str(text).translate(_LINES if lines else _ONE_LINE)


def echo(text: object = "", *, file: TextIO | None = None) -> None:
    """`print` for what a client command says: its newlines and tabs stay, other controls are shown."""
    print(printable(text, lines=True), file=file)
