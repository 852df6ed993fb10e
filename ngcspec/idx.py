"""The IDX format of the MNIST files (``train-images-idx3-ubyte``, ``.idx``, gzipped or not).

An IDX file is two zero bytes, a type byte, the number of dimensions, each dimension as a
big-endian 32-bit integer, then the values, big-endian, in row-major order. Read with numpy
only; every failure is a :class:`ngcspec.data.DataError` saying what is wrong.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

#: IDX type byte -> numpy dtype (big-endian where it matters).
TYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"),
         0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
GZIP_MAGIC = b"\x1f\x8b"


def is_idx_name(p: Path) -> bool:
    """Whether a file name says IDX: ``*.idx``, ``*-ubyte``, or either gzipped."""
    name = p.name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    return name.endswith((".idx", "-ubyte"))


def read_idx(p: Path) -> np.ndarray:
    """The array an IDX file holds, in native byte order."""
    from ngcspec.data import DataError

    try:
        raw = p.read_bytes()
        if raw[:2] == GZIP_MAGIC:
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(f"cannot read {p}: {err}", hint="the file may be truncated") from None
    if len(raw) < 4 or raw[:2] != b"\x00\x00" or raw[2] not in TYPES:
        raise DataError(f"{p} is not an IDX file (it lacks the IDX header)",
                        hint="IDX files start with two zero bytes, a type byte and the number "
                             "of dimensions (the MNIST format)")
    dtype, ndim = TYPES[raw[2]], raw[3]
    head = 4 + 4 * ndim
    if ndim == 0 or len(raw) < head:
        raise DataError(f"{p}: an IDX header with {ndim} dimensions is cut short")
    shape = tuple(int(d) for d in np.frombuffer(raw[4:head], ">u4"))
    count = int(np.prod(shape))
    if len(raw) - head != count * dtype.itemsize:
        raise DataError(f"{p} holds {len(raw) - head} bytes of values but its header promises "
                        f"{shape} = {count} values of {dtype.itemsize} byte(s)",
                        hint="the file may be truncated")
    arr = np.frombuffer(raw, dtype, count, offset=head).reshape(shape)
    return arr.astype(dtype.newbyteorder("="))


def write_idx(p: Path, arr: np.ndarray, compress: bool = False) -> None:
    """Write ``arr`` as IDX (for tests and for converting one's own data)."""
    arr = np.asarray(arr)
    code = next((c for c, d in TYPES.items() if d.kind == arr.dtype.kind
                 and d.itemsize == arr.dtype.itemsize), None)
    if code is None:
        raise ValueError(f"IDX holds u1, i1, i2, i4, f4 or f8 values, not {arr.dtype}")
    body = bytes([0, 0, code, arr.ndim]) + np.asarray(arr.shape, ">u4").tobytes() + \
        arr.astype(TYPES[code]).tobytes()
    p.write_bytes(gzip.compress(body) if compress else body)
