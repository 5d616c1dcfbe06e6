"""Files to attach in tests, made here: images with metadata, PDFs with text or many pages, and the
hostile ones (a decompression bomb, an SVG, polyglots)."""

from __future__ import annotations

import io
import struct
import zlib

import pypdf
from PIL import Image


def png(width: int = 64, height: int = 48, *, color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """A PNG with a text chunk (metadata that must not survive)."""
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "secret-author-name")
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "PNG", pnginfo=info)
    return out.getvalue()


GPS_TAG = 0x8825
ARTIST_TAG = 0x013B


def jpeg_with_gps(width: int = 120, height: int = 80) -> bytes:
    """A JPEG whose EXIF names an artist and a GPS position."""
    image = Image.new("RGB", (width, height), (10, 120, 200))
    exif = Image.Exif()
    exif[ARTIST_TAG] = "secret-artist"
    exif[GPS_TAG] = {1: "N", 2: (48.0, 51.0, 29.0)}
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


def webp(width: int = 40, height: int = 30) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (0, 200, 0)).save(out, "WEBP")
    return out.getvalue()


def gif(width: int = 30, height: int = 20) -> bytes:
    out = io.BytesIO()
    Image.new("P", (width, height), 3).save(out, "GIF")
    return out.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(side: int = 100_000) -> bytes:
    """A small PNG whose header claims side x side pixels (10 gigapixels for the default) of one
    deflated run of zeros: decoding it would take gigabytes."""
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)  # 1-bit greyscale
    row = b"\x00" * (1 + side // 8)
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(64)) + compressor.flush()
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")


def pdf_with_text(lines: list[str]) -> bytes:
    """A one-page PDF that shows `lines` in Helvetica (text pypdf extracts)."""
    ops = ["BT", "/F1 12 Tf", "14 TL", "72 720 Td"]
    for line in lines:
        escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        ops.append(f"({escaped}) Tj T*")
    ops.append("ET")
    stream = "\n".join(ops).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def pdf_with_pages(pages: int) -> bytes:
    writer = pypdf.PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=72, height=72)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


SVG = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


def png_pdf_polyglot() -> bytes:
    """A PNG that carries a PDF in a text chunk near its start: PDF readers find it, image viewers show
    the image."""
    image = png()
    pdf = pdf_with_text(["hidden"])
    ihdr_end = 8 + 25
    return image[:ihdr_end] + _chunk(b"tEXt", b"Comment\x00" + pdf) + image[ihdr_end:]


def text_pdf_polyglot() -> bytes:
    """Text whose first kilobyte holds a PDF header (PDF readers look that far for it)."""
    return b"Release notes\n" + pdf_with_text(["hidden"])
