"""Open an IRVE CSV as a stream of rows, whatever its producer did to it.

- Encoding: UTF-8 with or without BOM; UTF-16 with a BOM is transcoded; a file that is not
  valid UTF-8 but reads as Windows-1252 (what spreadsheets export) is transcoded with a
  warning; a binary file (NUL bytes) is refused with a clear message.
- Delimiter: `,` or `;` (or tab), detected on the header line.
- Memory: lines are read with a bound; a line longer than `MAX_LINE_BYTES` is skipped (and
  reported) without ever being held whole in memory, so one broken line cannot exhaust RAM.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from typing import BinaryIO

MAX_LINE_BYTES = 1 << 20  # 1 MiB: the widest real IRVE row is about 2 KB
SNIFF_BYTES = 1 << 16
TOO_LONG_MARKER = "\x1fwattsup-line-too-long\x1f"
MARKER_BYTES = TOO_LONG_MARKER.encode()

# A cut line is MAX_LINE_BYTES plus the marker: the field limit must let it through, or the
# CSV layer reports "field larger than field limit" in place of the line-too-long reason.
csv.field_size_limit(MAX_LINE_BYTES + len(TOO_LONG_MARKER))


class FileRejected(Exception):
    """The whole file cannot be read; the message says why, for the job report."""


def detect_encoding(head: bytes) -> tuple[str, str | None]:
    """Return (codec, warning) for the first bytes of a file, or raise FileRejected."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig", None
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", "fichier encodé en UTF-16 ; converti en UTF-8"
    if b"\x00" in head:
        raise FileRejected(
            "fichier binaire (octets NUL) : ce n'est pas un fichier texte CSV. "
            "Exportez les données IRVE en CSV UTF-8."
        )
    try:
        # A multi-byte character may be cut at the end of the sample: ignore the last 3 bytes.
        head[:-3].decode("utf-8") if len(head) == SNIFF_BYTES else head.decode("utf-8")
        return "utf-8", None
    except UnicodeDecodeError:
        pass
    try:
        head.decode("cp1252")
    except UnicodeDecodeError:
        raise FileRejected(
            "encodage de texte inconnu : le fichier n'est ni en UTF-8 ni en Windows-1252. "
            "Exportez les données IRVE en CSV UTF-8."
        ) from None
    return "cp1252", "fichier encodé en Windows-1252/Latin-1, pas en UTF-8 ; converti en UTF-8"


def detect_delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    if counts[best] == 0:
        raise FileRejected("aucun séparateur dans la ligne d'en-tête (attendu : « , » ou « ; »)")
    return best


class LineGuard(io.RawIOBase):
    """Binary stream filter that cuts any line longer than `limit` bytes: it keeps the first
    `limit` bytes, appends TOO_LONG_MARKER, and drops the rest of the line as it streams by.
    The CSV layer then sees one (rejected) row in place of the monster line, and memory stays
    bounded by the chunk size whatever the file holds. Works on 64 KiB chunks with C-level
    find()s, so a normal file pays almost nothing for it."""

    CHUNK = 1 << 16

    def __init__(self, raw: BinaryIO, limit: int = MAX_LINE_BYTES) -> None:
        assert limit > self.CHUNK
        self.raw = raw
        self.limit = limit
        self.run = 0  # bytes of the current line already passed on
        self.skipping = False
        self.pending = b""
        self.bytes_read = 0
        self.lines_cut = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self.pending:
            chunk = self.raw.read(self.CHUNK)
            if not chunk:
                return 0
            self.bytes_read += len(chunk)
            self.pending = self._filter(chunk)
        n = min(len(b), len(self.pending))
        b[:n] = self.pending[:n]
        self.pending = self.pending[n:]
        return n

    def _filter(self, chunk: bytes) -> bytes:
        out: list[bytes] = []
        start = 0
        if self.skipping:
            nl = chunk.find(b"\n")
            if nl < 0:
                return b""
            out.append(MARKER_BYTES + b"\n")
            self.skipping, self.run, start = False, 0, nl + 1
        first_nl = chunk.find(b"\n", start)
        end_of_first = len(chunk) if first_nl < 0 else first_nl
        if self.run + (end_of_first - start) > self.limit:
            keep = self.limit - self.run
            out.append(chunk[start : start + keep])
            self.lines_cut += 1
            if first_nl < 0:
                self.skipping = True
                self.run += keep
                return b"".join(out)
            out.append(MARKER_BYTES + b"\n")
            self.run, start = 0, first_nl + 1
            first_nl = chunk.find(b"\n", start)
        last_nl = chunk.rfind(b"\n", start)
        out.append(chunk[start:])
        # Lines inside one chunk are shorter than the chunk, hence than the limit: only the
        # tail after the last newline carries on into the next chunk.
        self.run = (len(chunk) - last_nl - 1) if last_nl >= 0 else self.run + len(chunk) - start
        return b"".join(out)


class CsvSource:
    """A CSV file opened for import: header, encoding notes and a row iterator."""

    def __init__(self, raw: BinaryIO) -> None:
        self.guard = LineGuard(raw)
        buffered = io.BufferedReader(self.guard, buffer_size=1 << 16)
        head = buffered.peek(SNIFF_BYTES)[:SNIFF_BYTES]
        if not head.strip():
            raise FileRejected("fichier vide")
        encoding, self.encoding_warning = detect_encoding(head)
        self.encoding = encoding
        # errors="replace": after the sniff, a stray bad byte must not abort a whole import;
        # the replacement character then shows in the stored value and the rejects report.
        self.text = io.TextIOWrapper(buffered, encoding=encoding, errors="replace", newline="")
        first = self.text.readline()
        if TOO_LONG_MARKER in first:
            raise FileRejected(
                "ligne d'en-tête de plus de 1 MiB : ce n'est pas un fichier CSV IRVE"
            )
        self.delimiter = detect_delimiter(first)
        self.header = next(csv.reader([first], delimiter=self.delimiter))
        self.reader = csv.reader(self.text, delimiter=self.delimiter, strict=False)

    @property
    def bytes_read(self) -> int:
        return self.guard.bytes_read

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """(line number of the row's first line, cells). Line 1 is the header. A cut line
        or a CSV syntax error comes out as [TOO_LONG_MARKER, reason]."""
        reader = self.reader
        while True:
            start = reader.line_num + 2
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield start, [TOO_LONG_MARKER, f"ligne CSV illisible : {exc}"]
                continue
            if row and TOO_LONG_MARKER in row[-1]:
                yield (
                    start,
                    [TOO_LONG_MARKER, f"ligne de plus de {MAX_LINE_BYTES} octets ; ignorée"],
                )
                continue
            yield start, row
