"""Open index segments without copying them.

Whoosh keeps each segment in one compound file, memory-mapped, and opens the parts of it
(terms, postings, columns) as `BufferFile`s over slices of the map. In the pinned `whoosh3`
3.54.0, `BufferFile.__init__` wraps its slice in `io.BytesIO(buf)`, which *copies* it: every
searcher opened copied the whole postings and terms of every segment (45 MB a segment at
10,000 fiches: 60 ms per searcher; about 0.6 s and 1 GB at 100,000), and every pooled
searcher kept its own copy.

`install()` gives `BufferFile` a file object that reads the mapped slice in place (the
sequential `read`/`seek`/`tell` the postings readers use); random reads already went
through `BufferFile.get`, which slices the map. The files are read-only: Whoosh never writes
to a `BufferFile`. Pinned by tests/search/test_mapped.py against `io.BytesIO`.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import whoosh
from whoosh.filedb import structfile

_INSTALLED = False
# Releases whose BufferFile.__init__ was read and found to do what `_init` does, plus the
# copy: whoosh3 (pinned) and whoosh-reloaded (the fallback of docs/architecture.md).
CHECKED_VERSIONS = {(3, 54, 0), (2, 7, 5)}


class MappedFile:
    """A read-only, seekable file over a buffer (a memoryview of a map), without a copy."""

    __slots__ = ("_pos", "_size", "_view", "closed")

    def __init__(self, buf: Any) -> None:
        self._view = memoryview(buf).cast("B")
        self._pos = 0
        self._size = len(self._view)
        self.closed = False

    def read(self, size: int | None = -1) -> bytes:
        start = self._pos
        if size is None or size < 0 or start + size > self._size:
            end = self._size
            if end <= start:
                return b""
        else:
            end = start + size
        self._pos = end
        return self._view[start:end].tobytes()

    def readline(self, size: int | None = -1) -> bytes:
        start = self._pos
        limit = self._size if size is None or size < 0 else min(self._size, start + size)
        end = start
        view = self._view
        while end < limit:
            end += 1
            if view[end - 1] == 10:  # b"\n"
                break
        self._pos = end
        return view[start:end].tobytes()

    def readinto(self, target: Any) -> int:
        data = self.read(len(memoryview(target).cast("B")))
        memoryview(target).cast("B")[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            position = offset
        elif whence == io.SEEK_CUR:
            position = max(0, self._pos + offset)  # as io.BytesIO: clamped at the start
        elif whence == io.SEEK_END:
            position = max(0, self._size + offset)
        else:
            raise ValueError(f"invalid whence ({whence})")
        if position < 0:
            raise ValueError(f"negative seek value {position}")
        self._pos = position
        return position

    def tell(self) -> int:
        return self._pos

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False

    def write(self, data: Any) -> int:
        raise io.UnsupportedOperation("read-only index file")

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line

    def close(self) -> None:
        # The view is released by BufferFile.close (it owns the memoryview we cast).
        self._view.release()
        self.closed = True


def _init(
    self: Any, buf: Any, name: str | None = None, onclose: Any = None
) -> None:  # same signature and attributes as whoosh3 3.54.0's BufferFile.__init__
    self._buf = buf
    self._name = name
    self.file = MappedFile(buf)
    self.onclose = onclose
    self.is_real = False
    self.is_closed = False


def install() -> bool:
    """Make Whoosh's `BufferFile` read its buffer in place (idempotent); False if this
    Whoosh release was not checked (then it is left as it is: correct, slower)."""
    global _INSTALLED
    if tuple(whoosh.__version__) not in CHECKED_VERSIONS:
        return False
    if not _INSTALLED:
        structfile.BufferFile.__init__ = _init  # type: ignore[method-assign]
        _INSTALLED = True
    return True
