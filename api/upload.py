"""Stream an uploaded file to disk without holding the request body in memory.

Litestar's multipart support reads the whole body first; the national IRVE file is ~70 MB
and an import is uploaded while other requests are served, so the body is parsed here as it
arrives: either a raw CSV body, or `multipart/form-data` whose part named `file` is written
chunk by chunk (only a delimiter's length of bytes is held back to find the part's end)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO

from wattsup.problems import Problem

_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
_FILENAME = re.compile(rb'filename="([^"]*)"', re.IGNORECASE)
_NAME = re.compile(rb'[; ]name="([^"]*)"', re.IGNORECASE)
MAX_HEADER_BYTES = 16 * 1024


def _too_large(limit: int) -> Problem:
    return Problem(
        413,
        "payload_too_large",
        f"Fichier trop volumineux : {limit // (1024 * 1024)} Mo au plus.",
    )


def _bad(detail: str) -> Problem:
    return Problem(400, "invalid_upload", detail)


class _Sink:
    def __init__(self, out: IO[bytes], limit: int) -> None:
        self.out = out
        self.limit = limit
        self.size = 0

    def write(self, data: bytes) -> None:
        if not data:
            return
        self.size += len(data)
        if self.size > self.limit:
            raise _too_large(self.limit)
        self.out.write(data)


async def save_upload(
    content_type: str, stream: AsyncIterator[bytes], out: IO[bytes], *, limit: int
) -> tuple[str, int]:
    """Write the uploaded file to `out`; return (client's file name, size in bytes)."""
    sink = _Sink(out, limit)
    if content_type.lower().startswith("multipart/form-data"):
        m = _BOUNDARY.search(content_type)
        if not m:
            raise _bad("Envoi multipart sans « boundary ».")
        name = await _save_multipart(m.group(1).encode("latin-1"), stream, sink)
    else:
        name = "import.csv"
        async for chunk in stream:
            sink.write(chunk)
    if sink.size == 0:
        raise _bad("Le fichier envoyé est vide.")
    return name, sink.size


async def _save_multipart(boundary: bytes, stream: AsyncIterator[bytes], sink: _Sink) -> str:
    delimiter = b"\r\n--" + boundary
    # The body starts with "--boundary": prefix a CRLF so every delimiter looks the same.
    buf = b"\r\n"
    state = "preamble"
    file_name: str | None = None
    writing = False
    done = False
    async for chunk in stream:
        if done:
            continue  # drain the epilogue
        buf += chunk
        while not done:
            if state == "preamble":
                at = buf.find(delimiter)
                if at < 0:
                    buf = buf[-len(delimiter) :]
                    break
                buf = buf[at + len(delimiter) :]
                state = "after_delimiter"
            if state == "after_delimiter":
                if len(buf) < 2:
                    break
                if buf.startswith(b"--"):  # closing delimiter
                    done = True
                    break
                state = "headers"
            if state == "headers":
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    if len(buf) > MAX_HEADER_BYTES:
                        raise _bad("En-têtes de partie multipart trop longs.")
                    break
                headers = buf[:end]
                buf = buf[end + 4 :]
                name = _NAME.search(headers)
                writing = bool(name and name.group(1) == b"file") and file_name is None
                if writing:
                    fn = _FILENAME.search(headers)
                    file_name = (
                        fn.group(1).decode("utf-8", "replace") if fn else ""
                    ) or "import.csv"
                state = "body"
            if state == "body":
                at = buf.find(delimiter)
                if at < 0:
                    # Keep a possible partial delimiter at the end of the buffer.
                    keep = len(delimiter) - 1
                    if len(buf) > keep:
                        if writing:
                            sink.write(buf[:-keep])
                        buf = buf[-keep:]
                    break
                if writing:
                    sink.write(buf[:at])
                    writing = False
                buf = buf[at + len(delimiter) :]
                state = "after_delimiter"
    if file_name is None:
        raise _bad("Aucun fichier reçu : le champ « file » est attendu.")
    if not done:
        raise _bad("Envoi interrompu avant la fin du fichier.")
    return Path(file_name).name or "import.csv"
