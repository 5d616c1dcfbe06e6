"""What an uploaded file is, judged from its bytes (never its name), and the form it is kept in.

PNG, JPEG, WebP and GIF are decoded and re-encoded by Pillow: the metadata (EXIF, GPS, comments) and
anything appended to the image go, and the longest side is brought down to a bound. A PDF keeps its
bytes and gives its text (pypdf, up to a page cap). Plain text and Markdown must be UTF-8. Anything
else is refused, SVG and files that read as two types at once (polyglots) included; so is an image
whose header announces more pixels than the bound (a decompression bomb) before it is decoded.

CPU-bound and synchronous: the caller runs it in a thread. An upload (api/services/attachments.py) and
a Jira import's attachments (worker/jira_attachments.py) both come through here.
"""

from __future__ import annotations

import io
import re
import unicodedata
import warnings
from dataclasses import dataclass

import pypdf
from PIL import Image, ImageOps, UnidentifiedImageError
from pypdf.errors import PdfReadError, PyPdfError

from testgen.core.config import Settings
from testgen.core.errors import ContentTooLargeError, InvalidRequestError, UnsupportedMediaError
from testgen.domain.attachments import AttachmentKind

ACCEPTED = "PNG, JPEG, WebP, GIF, PDF, plain text or Markdown (UTF-8)"
# The types a kept file is answered with (text types with `; charset=utf-8`).
MEDIA_TYPES = (
    "image/png",
    "image/jpeg",
    "image/webp",
    "image/gif",
    "application/pdf",
    "text/plain",
    "text/markdown",
)
MAX_FILE_NAME_CHARS = 255
MAX_TEXT_CHARS = 500_000  # the text kept of one file (PDF or text), at most
SNIFF_BYTES = 1024  # where a second format's signature makes a polyglot (PDF readers look this far)
MARKDOWN_SUFFIXES = (".md", ".markdown")

# Signatures at offset 0, by the format they start.
_IMAGE_MAGIC = {
    b"\x89PNG\r\n\x1a\n": ("PNG", "image/png"),
    b"\xff\xd8\xff": ("JPEG", "image/jpeg"),
    b"GIF87a": ("GIF", "image/gif"),
    b"GIF89a": ("GIF", "image/gif"),
}
_PDF_MAGIC = b"%PDF-"
# Markers of another format inside the first SNIFF_BYTES: a file that carries one is two things at once.
_FOREIGN = re.compile(
    rb"%PDF-|PK\x03\x04|<\s*(?:html|script|svg|body|iframe|object|embed)\b|<\?xml|<!doctype\s+(?:html|svg)",
    re.IGNORECASE,
)
_ZIP_PARTS = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x01\x02")
_SVG_START = re.compile(rb"^\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*(?:<!doctype\s+svg|<svg\b)", re.I | re.S)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class Limits:
    max_bytes: int
    max_image_side: int
    max_image_pixels: int
    max_pdf_pages: int


def limits(settings: Settings) -> Limits:
    return Limits(
        max_bytes=settings.max_attachment_bytes,
        max_image_side=settings.attachment_max_image_side,
        max_image_pixels=settings.attachment_max_image_pixels,
        max_pdf_pages=settings.attachment_max_pdf_pages,
    )


@dataclass(frozen=True)
class Intake:
    """The file as it is kept: its bytes (re-encoded for an image), type and what was read from it."""

    content: bytes
    file_name: str
    media_type: str
    kind: AttachmentKind
    width: int | None = None
    height: int | None = None
    pages: int | None = None
    text: str | None = None


def clean_file_name(name: str | None) -> str:
    """The last part of a client's file name, without control characters, at most 255 characters."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip().strip(".")
    return base[:MAX_FILE_NAME_CHARS] or "attachment"


def take(data: bytes, file_name: str | None, limits: Limits) -> Intake:
    """The kept form of an uploaded file, or a refusal: 413 over the size or page limit, 415 for a
    type not taken (SVG, polyglots, binary), 400 for a damaged or hostile file of a taken type."""
    name = clean_file_name(file_name)
    if len(data) > limits.max_bytes:
        raise ContentTooLargeError(too_large(len(data), limits.max_bytes))
    if not data:
        raise InvalidRequestError(f"{name} is empty: attach a file with content")
    head = data[:SNIFF_BYTES]
    if _SVG_START.match(head):
        raise UnsupportedMediaError(
            f"{name} is an SVG image, which is not accepted (it can carry scripts): {ACCEPTED} only"
        )
    image = _image_format(head)
    if image is not None:
        _refuse_polyglot(name, head[8:])
        return _image(data, name, image[0], image[1], limits)
    if head.startswith(_PDF_MAGIC):
        _refuse_polyglot(name, head[len(_PDF_MAGIC) :])
        if any(part in data for part in _ZIP_PARTS):
            raise UnsupportedMediaError(
                f"{name} is a PDF with an archive inside (a polyglot file): not accepted"
            )
        return _pdf(data, name, limits)
    return _text(data, name)


def too_large(size: int, limit: int) -> str:
    return f"The file has {size} bytes; the limit is {limit} (MAX_ATTACHMENT_BYTES): attach a smaller one"


def _image_format(head: bytes) -> tuple[str, str] | None:
    for magic, found in _IMAGE_MAGIC.items():
        if head.startswith(magic):
            return found
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP", "image/webp"
    return None


def _refuse_polyglot(name: str, rest: bytes) -> None:
    if _FOREIGN.search(rest):
        raise UnsupportedMediaError(
            f"{name} reads as two file types at once (a polyglot file), which is not accepted: save it "
            "again from an image editor or a PDF printer"
        )


def _image(data: bytes, name: str, pil_format: str, media_type: str, limits: Limits) -> Intake:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[pil_format]) as opened:
                width, height = opened.size
                if width * height > limits.max_image_pixels or not width or not height:
                    raise InvalidRequestError(
                        f"{name} says it is {width}x{height} pixels, more than the "
                        f"{limits.max_image_pixels} an image may have (ATTACHMENT_MAX_IMAGE_PIXELS): "
                        "attach a smaller image"
                    )
                opened.seek(0)  # an animated image keeps its first frame
                frame = ImageOps.exif_transpose(opened)
                frame.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InvalidRequestError(
            f"{name} decodes to too many pixels (a decompression bomb): not accepted"
        ) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as exc:
        raise InvalidRequestError(
            f"{name} is a damaged {pil_format} image ({type(exc).__name__}): save it again"
        ) from None
    frame.thumbnail((limits.max_image_side, limits.max_image_side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    if pil_format == "JPEG":
        frame.convert("RGB").save(out, "JPEG", quality=88, optimize=True)
    elif pil_format == "GIF":
        frame.save(out, "GIF")
    elif pil_format == "WEBP":
        frame.save(out, "WEBP", quality=88)
    else:
        if frame.mode not in ("1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16"):
            frame = frame.convert("RGBA")
        frame.save(out, "PNG", optimize=True)
    return Intake(
        out.getvalue(), name, media_type, AttachmentKind.image, width=frame.width, height=frame.height
    )


def _pdf(data: bytes, name: str, limits: Limits) -> Intake:
    try:
        reader = pypdf.PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise InvalidRequestError(f"{name} is a password-protected PDF: attach it without a password")
        pages = len(reader.pages)
        if pages > limits.max_pdf_pages:
            raise ContentTooLargeError(
                f"{name} has {pages} pages; a PDF may have at most {limits.max_pdf_pages} "
                "(ATTACHMENT_MAX_PDF_PAGES): attach the pages that matter"
            )
        texts: list[str] = []
        used = 0
        for page in reader.pages:
            text = page.extract_text() or ""
            texts.append(text)
            used += len(text)
            if used >= MAX_TEXT_CHARS:
                break
    except (InvalidRequestError, ContentTooLargeError):
        raise
    except (
        PdfReadError,
        PyPdfError,
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        IndexError,
        RecursionError,
        OSError,
        AssertionError,
        ZeroDivisionError,
    ) as exc:
        raise InvalidRequestError(f"{name} is a damaged PDF ({type(exc).__name__}): save it again") from None
    text = _clean_text("\n\n".join(t.strip() for t in texts if t.strip()))
    return Intake(data, name, "application/pdf", AttachmentKind.pdf, pages=pages, text=text)


def _text(data: bytes, name: str) -> Intake:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UnsupportedMediaError(f"{name} is not a file of a type accepted here: {ACCEPTED}") from None
    if "\x00" in text or len(_CONTROL.findall(text[: SNIFF_BYTES * 8])) > 8:
        raise UnsupportedMediaError(f"{name} is a binary file, not text: {ACCEPTED} only")
    if _FOREIGN.search(data[:SNIFF_BYTES]) and b"%PDF-" in data[:SNIFF_BYTES]:
        raise UnsupportedMediaError(f"{name} is text with a PDF inside (a polyglot file): not accepted")
    markdown = name.lower().endswith(MARKDOWN_SUFFIXES)
    media_type = "text/markdown" if markdown else "text/plain"
    return Intake(data, name, f"{media_type}; charset=utf-8", AttachmentKind.text, text=_clean_text(text))


def _clean_text(text: str) -> str:
    return _CONTROL.sub("", text)[:MAX_TEXT_CHARS]
