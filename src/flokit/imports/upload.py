"""Receiving an import file: streamed to disk (gunzipped on the way), hashed, capped, checked.

The file is never held whole in memory: chunks go straight to disk, and a gzip stream is
inflated in bounded pieces, so a compressed bomb stops at the size limit.
"""

from __future__ import annotations

import csv
import hashlib
import io
import zlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

from flokit.errors import InvalidRequest, PayloadTooLarge
from flokit.imports.csvfile import BadFile, Layout, read_layout
from flokit.store.diskfull import out_of_space, storage_full

GZIP_MAGIC = b"\x1f\x8b"
_PIECE = 1 << 20


@dataclass(frozen=True, slots=True)
class Received:
    path: Path
    sha256: str
    size: int


class _Sink:
    """Writes the (decompressed) bytes, hashing and counting them under the limit."""

    def __init__(self, path: Path, limit: int) -> None:
        self.path, self.limit = path, limit
        self.file = path.open("wb")
        self.hash = hashlib.sha256()
        self.size = 0
        self.inflater: zlib._Decompress | None = None

    def feed(self, chunk: bytes, first: bool) -> None:
        if first and chunk[:2] == GZIP_MAGIC and self.inflater is None:
            self.inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        pieces = self._inflate(chunk) if self.inflater is not None else iter((chunk,))
        for piece in pieces:
            self.size += len(piece)
            if self.size > self.limit:
                raise PayloadTooLarge(f"The import file exceeds the limit of {self.limit} bytes")
            self.hash.update(piece)
            self.file.write(piece)

    def _inflate(self, chunk: bytes) -> Iterator[bytes]:
        assert self.inflater is not None
        try:
            data = chunk
            while data:
                yield self.inflater.decompress(data, _PIECE)
                data = self.inflater.unconsumed_tail
        except zlib.error as exc:
            raise InvalidRequest(f"The file is not valid gzip data ({exc})") from None

    def close(self) -> Received:
        self.file.close()
        if self.inflater is not None and not self.inflater.eof:
            raise InvalidRequest("The file is not valid gzip data (the stream is truncated)")
        return Received(self.path, self.hash.hexdigest(), self.size)


async def receive(chunks: AsyncIterator[bytes], dest: Path, limit: int) -> Received:
    """Stream ``chunks`` into ``dest``; a gzip stream (by its magic bytes) is inflated. A disk
    that fills up on the way is a 503 (``StorageFull``), and the partial file goes."""
    try:
        return await _receive(chunks, _Sink(dest, limit))
    except OSError as exc:
        dest.unlink(missing_ok=True)
        if out_of_space(exc):
            raise storage_full("The import file could not be written", exc) from exc
        raise


async def _receive(chunks: AsyncIterator[bytes], sink: _Sink) -> Received:
    try:
        first = True
        async for chunk in chunks:
            if chunk:
                sink.feed(chunk, first)
                first = False
        return sink.close()
    except BaseException:
        sink.file.close()
        sink.path.unlink(missing_ok=True)
        raise


def inspect(path: Path) -> Layout:
    """Check that the file can be imported at all: not empty, UTF-8 header, known columns."""
    with path.open("rb") as raw:
        first = raw.readline(1 << 20)
    if not first.strip():
        raise BadFile("The file is empty" if not first else "The file has no header row")
    try:
        text = first.decode("utf-8")
    except UnicodeDecodeError:
        raise BadFile("The file is not UTF-8 text (its header row could not be read)") from None
    if "\r" in text.rstrip("\r\n"):
        # The header would end somewhere else than the first data row begins.
        raise BadFile(
            "The header row holds a carriage return not followed by a line feed"
            " (lines must end in \\n or \\r\\n)"
        )
    try:
        header = next(csv.reader(io.StringIO(text)), [])
    except csv.Error as exc:
        raise BadFile(f"The header row is not valid CSV ({exc})") from None
    return read_layout(header)
