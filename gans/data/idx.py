"""A strict reader of IDX files, the format of MNIST and Fashion-MNIST (optionally gzipped).

Layout (big-endian): two zero bytes, a type code, the number of dimensions n, then n uint32
dimension sizes, then prod(sizes) values in C order. Every part is checked, so a truncated,
padded or wrong file raises `IdxFormatError` naming the file and the problem instead of
yielding garbage images.
"""

from __future__ import annotations

import gzip
import os
import zlib

import numpy as np

# Type codes of the IDX format -> big-endian numpy dtypes.
_DTYPES = {0x08: np.dtype('>u1'), 0x09: np.dtype('>i1'), 0x0B: np.dtype('>i2'),
           0x0C: np.dtype('>i4'), 0x0D: np.dtype('>f4'), 0x0E: np.dtype('>f8')}
_GZIP_MAGIC = b'\x1f\x8b'


class IdxFormatError(ValueError):
    """A file that is not a well-formed IDX file (bad magic, wrong rank, truncated, padded)."""


def _read_bytes(path: str, limit: int | None = None) -> bytes:
    """The (decompressed) bytes of `path`, or its first `limit` bytes."""
    with open(path, 'rb') as f:
        gzipped = f.read(2) == _GZIP_MAGIC
    try:
        with (gzip.open(path, 'rb') if gzipped else open(path, 'rb')) as f:
            return f.read() if limit is None else f.read(limit)
    except (EOFError, gzip.BadGzipFile, zlib.error) as e:
        raise IdxFormatError(f'{path}: corrupt or truncated gzip stream ({e}); '
                             'download or install the file again.') from e


def _parse_header(path: str, raw: bytes) -> tuple[np.dtype, tuple[int, ...], int]:
    """(dtype, dims, header length in bytes) of an IDX file's leading bytes."""
    if len(raw) < 4:
        raise IdxFormatError(f'{path}: {len(raw)} bytes, too short for an IDX header (4 bytes).')
    if raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES:
        raise IdxFormatError(f'{path}: bad magic number 0x{raw[:4].hex()}; an IDX file starts '
                             'with 0x0000, a type code (0x08 for uint8) and the rank.')
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise IdxFormatError(f'{path}: truncated header: rank {ndim} needs {header} bytes, '
                             f'the file has {len(raw)}.')
    dims = tuple(int(d) for d in np.frombuffer(raw, '>u4', ndim, offset=4))
    return _DTYPES[raw[2]], dims, header


def read_header(path: str) -> tuple[np.dtype, tuple[int, ...]]:
    """(dtype, dims) of an IDX file, reading only its header (cheap even for large files)."""
    dtype, dims, _ = _parse_header(path, _read_bytes(path, limit=4 + 4 * 255))
    return dtype, dims


def read_idx(path: str | os.PathLike, *, dtype: np.dtype | None = None,
             ndim: int | None = None) -> np.ndarray:
    """The array stored in an IDX file (gzipped or not), in native byte order.

    Args:
      path: the file; gzip is detected by its magic bytes, not by the name.
      dtype: if given, the type the file must hold (e.g. np.uint8).
      ndim: if given, the rank the file must have (3 for images [N, H, W], 1 for labels [N]).

    Raises IdxFormatError if the magic number, type, rank or size disagree (a file with fewer
    or more bytes than its dimensions say is truncated or padded, not silently cut).
    """
    path = os.fspath(path)
    raw = _read_bytes(path)
    file_dtype, dims, header = _parse_header(path, raw)
    if dtype is not None and file_dtype.newbyteorder('=') != np.dtype(dtype):
        raise IdxFormatError(f'{path}: holds {file_dtype.name}, expected {np.dtype(dtype).name}.')
    if ndim is not None and len(dims) != ndim:
        raise IdxFormatError(f'{path}: has {len(dims)} dimensions {dims}, expected {ndim}.')
    expected = int(np.prod(dims, dtype=np.int64)) * file_dtype.itemsize
    got = len(raw) - header
    if got != expected:
        what = 'truncated' if got < expected else 'padded'
        raise IdxFormatError(f'{path}: {what}: dimensions {dims} need {expected} data bytes, the '
                             f'file has {got}. Download or install the file again.')
    array = np.frombuffer(raw, file_dtype, offset=header).reshape(dims)
    return array.astype(file_dtype.newbyteorder('='))

