"""Opening an input file: gzip detected by content and inflated lazily under size and ratio caps
(decompression bombs), other archives refused with a one-line message; the file's sha256."""

from __future__ import annotations

import gzip
import hashlib
import io
import zlib
from pathlib import Path

from atlas_core.errors import InputRejected

GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"
OTHER_COMPRESSION_MAGIC = {
    b"BZh": "bzip2",
    b"\xfd7zXZ\x00": "xz",
    b"\x28\xb5\x2f\xfd": "zstd",
    b"7z\xbc\xaf\x27\x1c": "7z",
    b"\x04\x22\x4d\x18": "lz4",
}
MAX_DECOMPRESSED_BYTES = 8 << 30
MAX_DECOMPRESSION_RATIO = 200
MAX_FIELD_BYTES = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class _CappedStream(io.RawIOBase):
    """Decompress gzip lazily, refusing to inflate past a size or ratio cap (decompression bombs)."""

    def __init__(self, path: Path, compressed_size: int) -> None:
        self._gz = gzip.open(path, "rb")
        self._limit = min(MAX_DECOMPRESSED_BYTES, max(64 << 20, compressed_size * MAX_DECOMPRESSION_RATIO))
        self._read = 0
        self._name = path.name

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        try:
            data = self._gz.read(len(buffer))
        except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError
            raise InputRejected(f"{self._name}: corrupt gzip stream ({exc})") from None
        self._read += len(data)
        if self._read > self._limit:
            raise InputRejected(
                f"{self._name}: decompressed size exceeds the {self._limit // (1 << 20)} MiB cap "
                f"(possible decompression bomb)"
            )
        n = len(data)
        buffer[:n] = data
        return n

    def close(self) -> None:
        self._gz.close()
        super().close()


def open_source(path: Path) -> io.BufferedReader:
    """Open a CSV file, transparently decompressing gzip (detected by content, not by name)."""
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head.startswith(GZIP_MAGIC):
        return io.BufferedReader(_CappedStream(path, path.stat().st_size), buffer_size=1 << 20)
    if head.startswith(ZIP_MAGIC):
        raise InputRejected(f"{path.name}: zip archives are not supported; upload the CSV or a .gz")
    for magic, kind in OTHER_COMPRESSION_MAGIC.items():
        if head.startswith(magic):
            raise InputRejected(
                f"{path.name}: {kind}-compressed files are not supported; upload the CSV or a .gz"
            )
    # A buffer as large as the header cap, so read_header's peek sees the whole header row.
    return io.BufferedReader(io.FileIO(path, "rb"), buffer_size=MAX_FIELD_BYTES)
