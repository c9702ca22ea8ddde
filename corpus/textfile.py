"""Decide whether a file's bytes are text, and decode them; refuse binaries with a reason.

A PNG or a gzip renamed `.txt` decodes "successfully" with replacement characters and
becomes hundreds of garbage passages that then answer questions. So before a reader parses
anything, the bytes are checked: known binary signatures, NUL bytes, a high share of
control characters, and (for bytes that are not UTF-8) charset detection that finds no
encoding it is confident in. Pure functions: bytes in, text or a reason out.
"""
from __future__ import annotations

import codecs
import logging

from .errors import RoundupError
from .text import strip_escape_sequences

log = logging.getLogger(__name__)

# Share of control characters (C0 minus tab/newline/CR/FF, DEL, C1) above which a file is binary.
MAX_CONTROL_RATIO = 0.05
# Share of undecodable characters tolerated in a mostly-UTF-8 file (stray Latin-1 bytes become
# U+FFFD, as before) before charset detection takes over (a GBK file, or binary data).
MAX_BAD_UTF8_RATIO = 0.1
# How much of a file the checks look at; the verdict on the start holds for the rest.
SNIFF_BYTES = 256 * 1024

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "PNG image"),
    (b"\xff\xd8\xff", "JPEG image"),
    (b"GIF87a", "GIF image"),
    (b"GIF89a", "GIF image"),
    (b"%PDF-", "PDF document"),
    (b"\x1f\x8b", "gzip data"),
    (b"PK\x03\x04", "zip archive"),
    (b"BZh", "bzip2 data"),
    (b"\xfd7zXZ\x00", "xz data"),
    (b"7z\xbc\xaf\x27\x1c", "7-zip archive"),
    (b"\x28\xb5\x2f\xfd", "zstd data"),
    (b"\x7fELF", "ELF executable"),
    (b"MZ", "Windows executable"),
    (b"SQLite format 3\x00", "SQLite database"),
    (b"\x93NUMPY", "NumPy array"),
    (b"RIFF", "RIFF media"),
    (b"OggS", "Ogg media"),
    (b"ID3", "MP3 audio"),
)
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# ESC is left out: it is counted after whole escape sequences are removed (coloured text is text).
_CONTROL_BYTES = frozenset([*range(0x00, 0x09), 0x0B, *range(0x0E, 0x1B), *range(0x1C, 0x20), 0x7F])


class NotTextError(RoundupError, ValueError):
    """The bytes are not text; the message is the reason, e.g. 'looks like a binary file, not text (NUL bytes)'."""


def _binary(detail: str) -> NotTextError:
    return NotTextError(f"looks like a binary file, not text ({detail})")


def _bom_encoding(data: bytes) -> str | None:
    return next((enc for bom, enc in _BOMS if data.startswith(bom)), None)


def _signature_proven(signature: bytes, head: bytes) -> bool:
    """A signature that is also plain text ("MZ", "ID3", "BZh") counts only with binary bytes near it."""
    if not (signature.isascii() and signature.decode().isprintable()) or signature == b"%PDF-":
        return True
    return any(b in _CONTROL_BYTES for b in head[:512])


def binary_reason(data: bytes, *, nul_ok: bool = False) -> str | None:
    """Why these bytes are not text (signature, NUL bytes, control bytes), or None.

    Works on bytes only, so it also suits HTML, whose charset trafilatura detects itself.
    UTF-16/32 text with a byte-order mark is text even though it holds NUL bytes. With
    `nul_ok` (JSONL, judged line by line) a few NUL bytes only count towards the control share.
    """
    head = data[:SNIFF_BYTES]
    if _bom_encoding(head) in ("utf-16", "utf-32"):
        return None
    for signature, kind in _SIGNATURES:
        if head.startswith(signature) and _signature_proven(signature, head):
            return f"looks like a binary file, not text ({kind})"
    nuls = head.count(b"\x00")
    if nuls and (not nul_ok or nuls > len(head) / 2):
        return "looks like a binary file, not text (NUL bytes)"
    controls = sum(head.count(bytes([b])) for b in _CONTROL_BYTES) - (nuls if nul_ok else 0)
    if head and controls / len(head) > MAX_CONTROL_RATIO:
        return f"looks like a binary file, not text ({controls / len(head):.0%} control characters)"
    return None


def control_ratio(text: str) -> float:
    """Share of C0 (minus whitespace), DEL and C1 characters in `text`, escape sequences aside."""
    text = strip_escape_sequences(text)
    if not text:
        return 0.0
    n = sum(1 for ch in text if (ch < " " and ch not in "\t\n\r\x0c") or "\x7f" <= ch <= "\x9f")
    return n / len(text)


def text_binary_reason(text: str, *, nul_ok: bool = False) -> str | None:
    """Why decoded text is really binary data (NUL or too many control characters), or None."""
    head = text[:SNIFF_BYTES]
    nuls = head.count("\x00")
    if nuls and (not nul_ok or nuls > len(head) / 2):
        return "looks like a binary file, not text (NUL characters)"
    ratio = control_ratio(head.replace("\x00", "") if nul_ok else head)
    if ratio > MAX_CONTROL_RATIO:
        return f"looks like a binary file, not text ({ratio:.0%} control characters)"
    return None


def _detect(data: bytes) -> str:
    """Decode non-UTF-8 bytes with charset-normalizer's best guess; NotTextError if it has none."""
    from charset_normalizer import from_bytes

    best = from_bytes(data[:SNIFF_BYTES]).best()
    if best is None:
        raise _binary("no character encoding fits")
    log.debug("decoding as %s (chaos %.2f)", best.encoding, best.chaos)
    return data.decode(best.encoding, errors="replace")


def decode_text(data: bytes, *, nul_ok: bool = False) -> str:
    """Text of a file's bytes, or NotTextError saying why it is not text.

    UTF-8 (with or without BOM) is tried first and kept despite a few bad bytes; otherwise
    charset-normalizer picks the encoding. CRLF and CR become LF. `nul_ok`: see binary_reason.
    """
    reason = binary_reason(data, nul_ok=nul_ok)
    if reason:
        raise NotTextError(reason)
    encoding = _bom_encoding(data)
    if encoding:
        text = data.decode(encoding, errors="replace")
    else:
        text = data.decode("utf-8", errors="replace")
        bad = text.count("\ufffd") - data.count("\ufffd".encode())
        if bad and bad / max(len(text), 1) > MAX_BAD_UTF8_RATIO:
            text = _detect(data)
    reason = text_binary_reason(text, nul_ok=nul_ok)
    if reason:
        raise NotTextError(reason)
    return text.replace("\r\n", "\n").replace("\r", "\n")
