"""The zero-copy index file reads exactly as io.BytesIO did (issue 11)."""

from __future__ import annotations

import io
import mmap
import pickle
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from whoosh.filedb import structfile

from resource_centre.search import mapped
from resource_centre.search.indexer import SearchIndex

operations = st.lists(
    st.one_of(
        st.tuples(st.just("read"), st.integers(-1, 40)),
        st.tuples(st.just("readline"), st.integers(-1, 40)),
        st.tuples(st.just("seek"), st.integers(0, 60)),
        st.tuples(st.just("seek_cur"), st.integers(-5, 10)),
        st.tuples(st.just("seek_end"), st.integers(-30, 0)),
        st.tuples(st.just("tell"), st.just(0)),
    ),
    max_size=30,
)


def _apply(f: object, op: str, arg: int) -> object:
    try:
        if op == "read":
            return f.read(arg)  # type: ignore[attr-defined]
        if op == "readline":
            return f.readline(arg)  # type: ignore[attr-defined]
        if op == "seek":
            return f.seek(arg)  # type: ignore[attr-defined]
        if op == "seek_cur":
            return f.seek(arg, io.SEEK_CUR)  # type: ignore[attr-defined]
        if op == "seek_end":
            return f.seek(arg, io.SEEK_END)  # type: ignore[attr-defined]
        return f.tell()  # type: ignore[attr-defined]
    except ValueError as exc:
        return type(exc)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=50), ops=operations)
def test_reads_like_bytesio(data: bytes, ops: list[tuple[str, int]]) -> None:
    ours, theirs = mapped.MappedFile(memoryview(data)), io.BytesIO(data)
    for op, arg in ops:
        assert _apply(ours, op, arg) == _apply(theirs, op, arg), (op, arg)
    assert list(mapped.MappedFile(data)) == list(io.BytesIO(data))


def test_reads_a_slice_of_a_map_in_place(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    payload = pickle.dumps({"a": list(range(100))}) + b"\nrest"
    path.write_bytes(b"x" * 10 + payload)
    with path.open("rb") as handle:
        source = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        view = memoryview(source)[10 : 10 + len(payload)]
        f = structfile.BufferFile(view, name="f")
        assert isinstance(f.file, mapped.MappedFile)  # installed: no BytesIO copy
        assert f.read_pickle() == {"a": list(range(100))}
        assert f.get(0, 2) == payload[:2]
        f.close()
        source.close()  # no view left exported: the map closes


def test_write_is_refused() -> None:
    with pytest.raises(io.UnsupportedOperation):
        mapped.MappedFile(b"abc").write(b"x")


def test_the_indexer_installs_it() -> None:
    assert SearchIndex  # importing the indexer installs the patch
    assert structfile.BufferFile.__init__ is mapped._init
