"""What the CLI prints of the server's text: control characters shown, never sent to the terminal."""

from __future__ import annotations

import io
import unicodedata

import pytest

from testgen.cli.client import format_table
from testgen.cli.progress_bar import ProgressBar
from testgen.cli.terminal_text import echo, printable

CLEAR = "\x1b[2J"
CLIPBOARD = "\x1b]52;c;cm0gLXJmIH4=\x07"  # OSC 52: the terminal's clipboard becomes "rm -rf ~"
RED = "\x1b[31m"
CSI_C1 = "\x9b2J"  # the one-byte CSI of C1
RIGHT_TO_LEFT = "\u202e"


def controls(text: str) -> set[str]:
    """The characters of `text` a terminal would act on, other than a line break or a tab."""
    bidi = {"\u061c", "\u200e", "\u200f", *map(chr, range(0x202A, 0x202F)), *map(chr, range(0x2066, 0x206A))}
    return {
        c for c in text if c not in "\n\t" and (unicodedata.category(c) in ("Cc", "Zl", "Zp") or c in bidi)
    }


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (CLEAR + "Pay", "␛[2JPay"),
        (CLIPBOARD, "␛]52;c;cm0gLXJmIH4=␇"),
        (RED + "red" + "\x1b[0m", "␛[31mred␛[0m"),
        (CSI_C1, "\\x9b2J"),
        ("abc" + RIGHT_TO_LEFT + "fdp.exe", "abc\\u202efdp.exe"),
        ("\u2066x\u2069\u200f", "\\u2066x\\u2069\\u200f"),
        ("a\rb\x00c\x7fd\x08", "a␍b␀c␡d␈"),
        ("one\ntwo\tthree", "one␊two␉three"),
        ("Cafè ✓ 日本", "Cafè ✓ 日本"),
    ],
)
def test_control_characters_are_shown_not_sent(text: str, shown: str) -> None:
    assert printable(text) == shown
    assert not controls(printable(text)) and "\n" not in shown and "\t" not in shown


def test_text_of_several_lines_keeps_its_line_breaks_and_tabs() -> None:
    assert printable("one\ntwo\tthree\r" + CLEAR, lines=True) == "one\ntwo\tthree␍␛[2J"


def test_every_control_character_is_neutralised() -> None:
    every = "".join(map(chr, range(0x2070)))
    assert controls(printable(every)) == set() and not set("\n\t") & set(printable(every))
    assert controls(printable(every, lines=True)) == set()
    assert printable(every, lines=True).count("\n") == printable(every, lines=True).count("\t") == 1


def test_echo_prints_through_it(capsys: pytest.CaptureFixture[str]) -> None:
    echo(f"Error (upstream): {CLIPBOARD}{RED}boom\nnext line")
    assert capsys.readouterr().out == "Error (upstream): ␛]52;c;cm0gLXJmIH4=␇␛[31mboom\nnext line\n"


def test_table_cells_are_one_line_each() -> None:
    table = format_table(["#", "Title"], [["1", f"{CLEAR}Pay\nby card"]], wrap_column=1)
    assert table.splitlines()[2] == "1  ␛[2JPay␊by card"


def test_the_progress_bar_shows_the_message_on_its_one_line() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    bar = ProgressBar(screen, width=10)
    bar.update({"status": "generating", "progress": 30, "message": f"{CLIPBOARD}Batch\r1\n{RIGHT_TO_LEFT}"})
    bar.close()
    assert (
        screen.getvalue() == "\r\x1b[2K[###.......]  30%  Generating: ␛]52;c;cm0gLXJmIH4=␇Batch␍1␊\\u202e\n"
    )
