"""Opening school files: zipped exports, encoding detection, byte counting for progress.

School files come in UTF-8, ISO-8859-15 (SIECLE's own encoding), ISO-8859-1 and, once
opened and saved again in Excel or Notepad, Windows-1252 or UTF-8 whatever they
declare. The encoding is decided from the content, read once before the import
(docs/directory.md, "Encodings"):

1. a UTF-8 byte order mark wins over the XML declaration (XML 1.0 §4.3.3 and appendix F.1);
2. content that is valid UTF-8 is UTF-8. Text in ISO-8859-x or Windows-1252 passes as
   UTF-8 only if every accented letter is followed by the right continuation bytes
   (`Ã©` for `é`), which French names never contain: a file that decodes as UTF-8 and
   has accented letters was written in UTF-8, whatever it declares;
3. otherwise, bytes 0x80-0x9F mean Windows-1252: they are control characters in
   ISO-8859-1/15, which no name contains, and `Œ`, `’`, `€`... in Windows-1252;
4. otherwise the declared single-byte encoding (ISO-8859-15 when none is declared);
5. a file that declares UTF-8 but is not valid UTF-8 is refused, with the place of the
   first bad byte and a hint: guessing would hide a corrupt file.

XML files are then given to expat as UTF-8 with the encoding forced (`parser_encoding`),
so that the declaration the content contradicts is not obeyed.
"""

from __future__ import annotations

import codecs
import re
import zipfile
import zlib
from dataclasses import dataclass

from idp.directory.records import FileRejected

_CHUNK = 1 << 16
_HEAD = 1024
_DECLARATION = re.compile(rb"^<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._:-]+)[\"']")
# A local file header, or the end record that an archive without files starts with.
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
# Every byte but 0x80-0x9F: deleting them leaves the C1 bytes, if any (fast, in C).
_NOT_C1 = bytes(b for b in range(256) if not 0x80 <= b <= 0x9F)
# Encodings school files really use; any other declared one is left to expat.
_SINGLE_BYTE = {"iso8859-15", "iso8859-1", "cp1252", "ascii"}

# Zipped exports: a SIECLE export of a whole académie is a few hundred megabytes; XML
# compresses about ten times. Beyond these, the archive is refused as a zip bomb.
MAX_UNCOMPRESSED = 1 << 30
MAX_RATIO = 100
# Ratios are only checked above this size: a small member cannot exhaust anything.
RATIO_CHECKED_FROM = 16 << 20

# Windows-1252 leaves five bytes undefined; Python's codec refuses them. They are read
# as the ISO-8859-1 control characters they are there, rather than failing an import.
_CP1252_LENIENT = "idp-cp1252-lenient"


def _latin1_fallback(exc: UnicodeDecodeError):
    return "".join(chr(b) for b in exc.object[exc.start:exc.end]), exc.end


codecs.register_error(_CP1252_LENIENT, _latin1_fallback)


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


class ZipMemberReader(CountingReader):
    """The one file of a zipped export, read as it is inflated (never whole in memory).

    `position` is in bytes of the archive (the inflated count scaled by the compression
    ratio), as progress bars count the size of the files given.
    """

    def __init__(self, name: str, archive: zipfile.ZipFile, info: zipfile.ZipInfo):
        super().__init__(archive.open(info))
        self.name = name
        self.archive = archive
        self.info = info
        self.inflated = 0

    def read(self, size: int = -1) -> bytes:
        """Read inflated bytes, refusing a member that inflates beyond its declared size."""
        try:
            data = self.raw.read(size)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
            raise FileRejected(f"{self.name}: damaged ZIP archive: {exc}") from exc
        self.inflated += len(data)
        # zipfile stops at the declared size; this guards against a change in that.
        if self.inflated > min(self.info.file_size, MAX_UNCOMPRESSED):
            raise FileRejected(f"{self.name}: refused: the archive inflates beyond its "
                               "declared size (zip bomb?)")
        if self.info.file_size:
            self.position = self.inflated * self.info.compress_size // self.info.file_size
        return data

    def close(self) -> None:
        """Close the member and the archive."""
        self.raw.close()
        self.archive.close()


def _open_zip(name: str, fh) -> ZipMemberReader:
    try:
        archive = zipfile.ZipFile(fh)
    except (zipfile.BadZipFile, OSError) as exc:
        fh.close()
        raise FileRejected(f"{name}: damaged ZIP archive: {exc}") from exc
    try:
        # Archives made on a Mac carry a __MACOSX copy of resource forks: not files.
        members = [i for i in archive.infolist()
                   if not i.is_dir() and not i.filename.startswith("__MACOSX/")]
        if len(members) != 1:
            listed = ", ".join(i.filename for i in members[:5]) or "nothing"
            raise FileRejected(f"{name}: a ZIP archive must hold exactly one export file; "
                               f"it holds {len(members)} ({listed}): extract them and give "
                               "the files")
        info = members[0]
        if info.flag_bits & 0x1:
            raise FileRejected(f"{name}: the ZIP archive is password-protected: extract "
                               f"{info.filename} and give it")
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > MAX_UNCOMPRESSED or (
            info.file_size > RATIO_CHECKED_FROM and ratio > MAX_RATIO
        ):
            raise FileRejected(
                f"{name}: refused: {info.filename} inflates to {info.file_size:,} bytes "
                f"(ratio {ratio:.0f}); at most {MAX_UNCOMPRESSED:,} bytes and a ratio of "
                f"{MAX_RATIO} are accepted (protection against zip bombs)"
            )
        try:
            return ZipMemberReader(name, archive, info)
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError) as exc:
            raise FileRejected(f"{name}: unreadable ZIP archive: {exc}") from exc
    except BaseException:
        archive.close()
        fh.close()
        raise


def open_binary(path) -> CountingReader:
    """Open a school file for reading bytes: the file itself, or the one file of a .zip.

    A ZIP archive is recognised by its content, whatever its name.
    """
    fh = open(path, "rb")  # noqa: SIM115 - closed by the reader's owner
    magic = fh.read(4)
    fh.seek(0)
    if magic in _ZIP_MAGIC:
        return _open_zip(str(path), fh)
    return CountingReader(fh)


def is_zip(path) -> bool:
    """Tell whether a file is a ZIP archive (an .xlsx workbook is one too)."""
    with open(path, "rb") as fh:
        return fh.read(4) in _ZIP_MAGIC


@dataclass(frozen=True, slots=True)
class Scan:
    """What one reading of a whole file tells about its encoding."""

    utf8: bool  # the whole content decodes as UTF-8
    non_ascii: bool  # it has bytes above 0x7F
    c1: bool  # it has bytes 0x80-0x9F: Windows-1252 if it is not UTF-8
    bad_line: int = 0  # where the first byte that is not UTF-8 is (1-based line,
    bad_column: int = 0  # 0-based byte column, as expat counts them)
    bad_byte: int = 0


def scan(source) -> Scan:
    """Read a binary stream to its end, in chunks (memory flat), and describe its bytes."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    utf8, non_ascii, c1 = True, False, False
    lines, line_start, offset = 0, 0, 0  # newlines seen, offset after the last one
    bad = (0, 0, 0)
    while chunk := source.read(_CHUNK):
        if not c1 and not chunk.isascii():
            non_ascii = True
            c1 = bool(chunk.translate(None, _NOT_C1))
        if utf8:
            pending = decoder.getstate()[0]
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                utf8 = False
                data = pending + chunk
                start = offset - len(pending)
                before = data[:exc.start]
                line = lines + before.count(b"\n")
                last = before.rfind(b"\n")
                column = exc.start - last - 1 if last >= 0 else start + exc.start - line_start
                bad = (line + 1, column, data[exc.start])
            count = chunk.count(b"\n")
            if count:
                lines += count
                line_start = offset + chunk.rfind(b"\n") + 1
        offset += len(chunk)
        if not utf8 and c1:
            break  # nothing more to learn
    if utf8:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            utf8 = False
            bad = (lines + 1, offset - line_start, 0)
    return Scan(utf8, non_ascii, c1, *bad)


def is_utf8(path) -> bool:
    """Tell whether a whole file decodes as UTF-8, reading it in chunks (memory flat)."""
    source = open_binary(path)
    try:
        return scan(source).utf8
    finally:
        source.close()


def _single_byte(found: Scan, declared: str | None) -> str:
    """The codec of content that is not UTF-8, from its bytes and its declaration."""
    if found.c1:
        return "cp1252"
    return declared if declared in ("iso8859-15", "iso8859-1", "cp1252") else "iso8859-15"


def text_encoding(path) -> str:
    """Return the encoding of a text (CSV) file, decided from its content.

    `utf-8-sig` when it decodes as UTF-8 (with or without byte order mark), `cp1252`
    when it has bytes 0x80-0x9F (open it with `open_text`, which reads the five bytes
    Windows-1252 leaves undefined), else `iso8859-15`.
    """
    with open(path, "rb") as fh:  # CSV files are read as they are, never unzipped
        found = scan(fh)
    return "utf-8-sig" if found.utf8 else _single_byte(found, None)


def open_text(path, encoding: str):
    """Open a text file for the csv module in an encoding `text_encoding` returned."""
    return open(path, encoding=encoding, errors=_CP1252_LENIENT, newline="")  # noqa: SIM115


class TranscodingReader:
    """Present a single-byte encoded stream as UTF-8 bytes, for expat."""

    def __init__(self, inner: CountingReader, encoding: str):
        self.inner = inner
        self._decoder = codecs.getincrementaldecoder(encoding)(errors=_CP1252_LENIENT)

    @property
    def position(self) -> int:
        """Bytes of the file read so far."""
        return self.inner.position

    def read(self, size: int = -1) -> bytes:
        """Read, decode and re-encode as UTF-8 (the result may be longer than `size`)."""
        data = self.inner.read(size)
        return self._decoder.decode(data, final=not data).encode("utf-8")

    def close(self) -> None:
        """Close the wrapped file."""
        self.inner.close()


@dataclass(frozen=True, slots=True)
class XmlEncoding:
    """How to read an XML file: its real encoding, and what to force expat to."""

    encoding: str | None  # Python codec name; None: left to expat (UTF-16, rare codecs)
    declared: str | None  # canonical name of the encoding the declaration gives
    bom: bool

    @property
    def parser_encoding(self) -> str | None:
        """The encoding to force on expat: UTF-8, as `open_xml` always gives it that."""
        return "utf-8" if self.encoding else None


def _canonical(name: bytes | None) -> str | None:
    if not name:
        return None
    text = name.decode("ascii")
    for candidate in (text, text.replace("-", "")):  # Python knows latin9, not latin-9
        try:
            return codecs.lookup(candidate).name
        except LookupError:
            pass
    return text.lower()


def xml_encoding(path) -> XmlEncoding:
    """Decide the encoding of an XML file from its content (see the module docstring).

    Raises FileRejected when the file declares UTF-8 (or starts with a UTF-8 byte order
    mark) but is not valid UTF-8, saying where and what to do.
    """
    name = str(path)
    source = open_binary(path)
    try:
        head = source.read(_HEAD)
    finally:
        source.close()
    bom = head.startswith(codecs.BOM_UTF8)
    match = _DECLARATION.match(head[3:] if bom else head)
    declared = _canonical(match.group(1) if match else None)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or (
        not bom and declared not in (None, "utf-8", *_SINGLE_BYTE)
    ):
        return XmlEncoding(None, declared, bom)  # expat knows these itself
    source = open_binary(path)
    try:
        found = scan(source)
    finally:
        source.close()
    if found.utf8:
        return XmlEncoding("utf-8", declared, bom)
    if bom or declared == "utf-8":
        said = "starts with a UTF-8 byte order mark" if bom else "declares UTF-8"
        guess = "Windows-1252" if found.c1 else "ISO-8859-15 or Windows-1252"
        raise FileRejected(
            f"{name}: the file {said} but is not UTF-8 (byte 0x{found.bad_byte:02X} at line "
            f"{found.bad_line}, column {found.bad_column}): the encoding declaration does "
            f"not match the content, which looks like {guess}. Save the file again as "
            "UTF-8, or give the export as SIECLE wrote it"
        )
    return XmlEncoding(_single_byte(found, declared), declared, bom)


def open_xml(path, encoding: XmlEncoding | None = None):
    """Open an XML file for expat as UTF-8 bytes (transcoding single-byte encodings).

    Give the parser `encoding.parser_encoding`, which overrides the file's declaration.
    The returned reader counts the bytes of the file read (`position`), and has the
    decided `encoding` attached.
    """
    encoding = encoding or xml_encoding(path)
    source = open_binary(path)
    if encoding.bom:
        source.read(len(codecs.BOM_UTF8))
    reader = source
    if encoding.encoding and encoding.encoding != "utf-8":
        reader = TranscodingReader(source, encoding.encoding)
    reader.encoding = encoding
    return reader
