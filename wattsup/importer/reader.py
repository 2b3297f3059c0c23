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

csv.field_size_limit(MAX_LINE_BYTES)


class FileRejected(Exception):
    """The whole file cannot be read; the message says why, for the job report."""


class CountingReader(io.RawIOBase):
    """Wraps a binary stream and counts the bytes read (progress, ETA)."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.raw.read(len(b))
        n = len(data)
        b[:n] = data
        self.bytes_read += n
        return n


def detect_encoding(head: bytes) -> tuple[str, str | None]:
    """Return (codec, warning) for the first bytes of a file, or raise FileRejected."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig", None
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", "file encoded in UTF-16; transcoded to UTF-8"
    if b"\x00" in head:
        raise FileRejected(
            "binary file (NUL bytes): not a CSV text file. Export the IRVE data as CSV UTF-8."
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
            "unknown text encoding: the file is neither UTF-8 nor Windows-1252. "
            "Export the IRVE data as CSV UTF-8."
        ) from None
    return "cp1252", "file encoded in Windows-1252/Latin-1, not UTF-8; transcoded"


def detect_delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    if counts[best] == 0:
        raise FileRejected("no delimiter found in the header line (expected ',' or ';')")
    return best


def bounded_lines(text: io.TextIOBase, skipped: list[int]) -> Iterator[str]:
    """Yield lines, replacing any line over MAX_LINE_BYTES characters by a marker (its line
    number goes to `skipped`) after draining it in bounded chunks."""
    number = 0
    while True:
        line = text.readline(MAX_LINE_BYTES)
        if not line:
            return
        number += 1
        if len(line) >= MAX_LINE_BYTES and not line.endswith("\n"):
            while True:
                rest = text.readline(MAX_LINE_BYTES)
                if not rest or rest.endswith("\n"):
                    break
            skipped.append(number)
            yield TOO_LONG_MARKER + "\n"
            continue
        yield line


class CsvSource:
    """A CSV file opened for import: header, encoding notes and a row iterator."""

    def __init__(self, raw: BinaryIO) -> None:
        self.counter = CountingReader(raw)
        buffered = io.BufferedReader(self.counter, buffer_size=1 << 16)
        head = buffered.peek(SNIFF_BYTES)[:SNIFF_BYTES]
        if not head.strip():
            raise FileRejected("empty file")
        encoding, self.encoding_warning = detect_encoding(head)
        self.encoding = encoding
        # errors="replace": after the sniff, a stray bad byte must not abort a whole import;
        # the replacement character then shows in the stored value and the rejects report.
        self.text = io.TextIOWrapper(buffered, encoding=encoding, errors="replace", newline="")
        self.skipped_lines: list[int] = []
        lines = bounded_lines(self.text, self.skipped_lines)
        first = next(lines, "")
        if first.startswith(TOO_LONG_MARKER):
            raise FileRejected("the header line is longer than 1 MiB: not an IRVE CSV file")
        self.delimiter = detect_delimiter(first)
        self.header = next(csv.reader([first], delimiter=self.delimiter))
        self.reader = csv.reader(lines, delimiter=self.delimiter, strict=False)

    @property
    def bytes_read(self) -> int:
        return self.counter.bytes_read

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """(line number of the row's first line, cells). Line 1 is the header."""
        reader = self.reader
        while True:
            start = reader.line_num + 2
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield start, [TOO_LONG_MARKER, str(exc)]
                continue
            yield start, row
