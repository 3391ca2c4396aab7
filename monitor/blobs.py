"""Compressed blobs in the database: snapshots' documents and evidence bodies.

New blobs are zstd frames: a third of zlib's time at its fastest level for fewer bytes, paid
by a worker for every changed page, and read back three times as fast. Blobs written before
are zlib streams. Each blob says which it is: a zstd frame starts with its magic number,
which is never a valid zlib header (its first two bytes are not a multiple of 31).
"""

from __future__ import annotations

import threading
import zlib
from typing import Any

_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_LEVEL = 3  # on pages, as fast as level 1 and smaller


_mine = threading.local()  # a compressor and a decompressor per thread (neither is shareable)


def pack(data: bytes) -> bytes:
    """`data` compressed: a zstd frame that records its size and a checksum of the content
    (as zlib's streams did), so a damaged blob fails to unpack instead of reading wrong."""
    compressor = getattr(_mine, "compressor", None)
    if compressor is None:  # made once: a new one costs a third as much again as a page
        compressor = _mine.compressor = _zstd().ZstdCompressor(level=_LEVEL,
                                                               write_checksum=True)
    return compressor.compress(data)


def unpack(blob: bytes) -> bytes:
    """What `pack` (or, for older rows, zlib.compress) was given."""
    if blob[:4] == _ZSTD_MAGIC:
        decompressor = getattr(_mine, "decompressor", None)
        if decompressor is None:
            decompressor = _mine.decompressor = _zstd().ZstdDecompressor()
        return decompressor.decompress(blob)
    return zlib.decompress(blob)


def _zstd() -> Any:
    # Imported on first use: a megabyte per process, and the daemon's own process seldom
    # packs or unpacks anything (its workers do).
    import zstandard

    return zstandard
