"""Opening school files: byte counting for progress, and ISO-8859-15 or UTF-8 detection."""

from __future__ import annotations

import codecs
import re

_DECLARED_ENCODING = re.compile(rb"^<\?xml[^>]*encoding=", re.IGNORECASE)
_CHUNK = 1 << 16


class CountingReader:
    """A binary file wrapper that counts the bytes read, for progress bars."""

    def __init__(self, raw):
        self.raw = raw
        self.position = 0

    def read(self, size: int = -1) -> bytes:
        """Read like the wrapped file, counting."""
        data = self.raw.read(size)
        self.position += len(data)
        return data

    def close(self) -> None:
        """Close the wrapped file."""
        self.raw.close()


class Latin9ToUtf8Reader(CountingReader):
    """Present an ISO-8859-15 file as UTF-8 bytes (for XML files that do not declare it)."""

    def __init__(self, raw):
        super().__init__(raw)
        self._decoder = codecs.getincrementaldecoder("iso-8859-15")()

    def read(self, size: int = -1) -> bytes:
        """Read, decode as ISO-8859-15 and re-encode as UTF-8."""
        data = super().read(size)
        return self._decoder.decode(data, final=not data).encode("utf-8")


def is_utf8(path) -> bool:
    """Tell whether a whole file decodes as UTF-8, reading it in chunks (memory flat)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def text_encoding(path) -> str:
    """Return the encoding of a text file: utf-8-sig when it decodes so, else ISO-8859-15."""
    return "utf-8-sig" if is_utf8(path) else "iso-8859-15"


def open_xml(path) -> CountingReader:
    """Open an XML file for the parser, transcoding undeclared ISO-8859-15 to UTF-8.

    A file that declares its encoding is read as is: expat decodes ISO-8859-15 itself.
    """
    with open(path, "rb") as fh:
        head = fh.read(200)
    declared = head.startswith(codecs.BOM_UTF8) or _DECLARED_ENCODING.match(head)
    raw = open(path, "rb")  # noqa: SIM115 - closed by the reader's owner
    if declared or is_utf8(path):
        return CountingReader(raw)
    return Latin9ToUtf8Reader(raw)
