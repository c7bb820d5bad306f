"""The lake: one interface, two real implementations (a local directory and S3 via the minio SDK).

Objects become visible atomically: data is written to a temporary name under ``_tmp/`` and then
renamed (local) or copied (S3) to its final key, so a reader never sees a partial object.
Listing ignores ``_tmp/``.
"""

from __future__ import annotations

import abc
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from atlas_core.errors import AtlasError, ServiceUnavailable
from atlas_core.settings import AtlasSettings

ModifiedKeys = list[tuple[str, datetime]]
BUCKETS = ("atlas-bronze", "atlas-silver", "atlas-gold", "atlas-ai-ready")
TMP_PREFIX = "_tmp/"


def _check_key(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise AtlasError(f"invalid lake key {key!r}")
    return key


def write_parquet_file(path: Path, batches: Iterable[pa.RecordBatch], schema: pa.Schema) -> int:
    rows = 0
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for batch in batches:
            if batch.num_rows:
                writer.write_batch(batch)
                rows += batch.num_rows
    return rows


class Lake(abc.ABC):
    """Object storage for raw files and Parquet, addressed by (bucket, key)."""

    @abc.abstractmethod
    def uri(self, bucket: str, key: str = "") -> str: ...

    @abc.abstractmethod
    def ensure_buckets(self, buckets: Iterable[str] = BUCKETS) -> None: ...

    @abc.abstractmethod
    def put_file(self, bucket: str, key: str, path: Path) -> None:
        """Upload a local file atomically."""

    @abc.abstractmethod
    def get_file(self, bucket: str, key: str, path: Path) -> None:
        """Download an object to a local path."""

    @abc.abstractmethod
    def open(self, bucket: str, key: str) -> BinaryIO:
        """A readable stream over an object's bytes (caller closes it)."""

    @abc.abstractmethod
    def exists(self, bucket: str, key: str) -> bool: ...

    @abc.abstractmethod
    def list(self, bucket: str, prefix: str = "") -> list[str]:
        """Keys under ``prefix`` in sorted order, temporary objects excluded."""

    @abc.abstractmethod
    def list_modified(self, bucket: str, prefix: str = "") -> ModifiedKeys:
        """Keys under ``prefix`` with their last-modified time (UTC), temporary objects excluded."""

    @abc.abstractmethod
    def list_temporary(self, bucket: str) -> ModifiedKeys:
        """Objects under ``_tmp/`` with their last-modified time: uploads in progress, or orphans of writes
        interrupted between upload and publish (never listed, removed by retention once old)."""

    @abc.abstractmethod
    def delete(self, bucket: str, key: str) -> None: ...

    @abc.abstractmethod
    def copy(self, bucket: str, src: str, dst: str) -> None: ...

    def move(self, bucket: str, src: str, dst: str) -> None:
        self.copy(bucket, src, dst)
        self.delete(bucket, src)

    def delete_prefix(self, bucket: str, prefix: str) -> int:
        keys = self.list(bucket, prefix)
        for key in keys:
            self.delete(bucket, key)
        return len(keys)

    def put_bytes(self, bucket: str, key: str, data: bytes) -> None:
        with tempfile.NamedTemporaryFile(prefix="atlas-lake-") as tmp:
            tmp.write(data)
            tmp.flush()
            self.put_file(bucket, key, Path(tmp.name))

    def get_bytes(self, bucket: str, key: str) -> bytes:
        with self.open(bucket, key) as stream:
            return stream.read()

    def write_parquet(
        self, bucket: str, key: str, batches: Iterable[pa.RecordBatch], schema: pa.Schema
    ) -> int:
        """Stream batches into a Parquet object (spooled to a local temp file, then published)."""
        with tempfile.TemporaryDirectory(prefix="atlas-parquet-") as tmpdir:
            path = Path(tmpdir) / "data.parquet"
            rows = write_parquet_file(path, batches, schema)
            self.put_file(bucket, key, path)
        return rows

    def read_parquet(self, bucket: str, key: str, batch_size: int = 50_000) -> Iterator[pa.RecordBatch]:
        with self.open(bucket, key) as stream:
            parquet = pq.ParquetFile(stream)
            yield from parquet.iter_batches(batch_size=batch_size)


class LocalLake(Lake):
    """The lake as a directory tree: ``<root>/<bucket>/<key>``."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).expanduser().resolve()

    def _path(self, bucket: str, key: str) -> Path:
        return self.root / bucket / _check_key(key)

    def uri(self, bucket: str, key: str = "") -> str:
        return (self.root / bucket / key).as_uri() if key else (self.root / bucket).as_uri()

    def ensure_buckets(self, buckets: Iterable[str] = BUCKETS) -> None:
        for bucket in buckets:
            (self.root / bucket).mkdir(parents=True, exist_ok=True)

    @contextmanager
    def _publishing(self, bucket: str, key: str) -> Iterator[Path]:
        """A temporary path under ``_tmp/`` to write; renamed to the key when the block ends (removed
        when it fails)."""
        final = self._path(bucket, key)
        tmp = self.root / bucket / TMP_PREFIX / uuid.uuid4().hex
        tmp.parent.mkdir(parents=True, exist_ok=True)
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            yield tmp
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)

    def put_file(self, bucket: str, key: str, path: Path) -> None:
        with self._publishing(bucket, key) as tmp:
            shutil.copyfile(path, tmp)

    def write_parquet(
        self, bucket: str, key: str, batches: Iterable[pa.RecordBatch], schema: pa.Schema
    ) -> int:
        """Stream batches into a Parquet file under ``_tmp/`` of the bucket, then rename it to the key (one
        write, where spooling elsewhere first cost a copy of every object)."""
        with self._publishing(bucket, key) as tmp:
            return write_parquet_file(tmp, batches, schema)

    def get_file(self, bucket: str, key: str, path: Path) -> None:
        shutil.copyfile(self._existing(bucket, key), path)

    def _existing(self, bucket: str, key: str) -> Path:
        path = self._path(bucket, key)
        if not path.is_file():
            raise AtlasError(f"{self.uri(bucket, key)} does not exist")
        return path

    def open(self, bucket: str, key: str) -> BinaryIO:
        return open(self._existing(bucket, key), "rb")

    def exists(self, bucket: str, key: str) -> bool:
        return self._path(bucket, key).is_file()

    def list(self, bucket: str, prefix: str = "") -> list[str]:
        base = self.root / bucket
        if not base.is_dir():
            return []
        keys = []
        for path in base.rglob("*"):
            if path.is_file():
                key = path.relative_to(base).as_posix()
                if key.startswith(prefix) and not key.startswith(TMP_PREFIX):
                    keys.append(key)
        return sorted(keys)

    def list_modified(self, bucket: str, prefix: str = "") -> ModifiedKeys:
        base = self.root / bucket
        return [
            (key, datetime.fromtimestamp((base / key).stat().st_mtime, UTC))
            for key in self.list(bucket, prefix)
        ]

    def list_temporary(self, bucket: str) -> ModifiedKeys:
        base = self.root / bucket
        tmp = base / TMP_PREFIX
        if not tmp.is_dir():
            return []
        return sorted(
            (path.relative_to(base).as_posix(), datetime.fromtimestamp(path.stat().st_mtime, UTC))
            for path in tmp.rglob("*")
            if path.is_file()
        )

    def delete(self, bucket: str, key: str) -> None:
        path = self._path(bucket, key)
        path.unlink(missing_ok=True)
        parent = path.parent
        base = self.root / bucket
        while parent != base and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent

    def copy(self, bucket: str, src: str, dst: str) -> None:
        self.put_file(bucket, dst, self._existing(bucket, src))

    def move(self, bucket: str, src: str, dst: str) -> None:
        source = self._existing(bucket, src)
        final = self._path(bucket, dst)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, final)
        self.delete(bucket, src)


class S3Lake(Lake):
    """The lake on any S3 API (MinIO, SeaweedFS, AWS) through the minio SDK."""

    def __init__(
        self,
        endpoint: str,
        access_key: str,
        secret_key: str,
        *,
        secure: bool = False,
        region: str = "us-east-1",
    ) -> None:
        import urllib3
        from minio import Minio

        self.endpoint = endpoint.removeprefix("http://").removeprefix("https://")
        # Bounded waits: a dead endpoint fails in seconds (minio's default waits minutes), and the
        # circuit breaker in _call then fails every further call at once.
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=5, read=120),
            retries=urllib3.Retry(total=3, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
            maxsize=10,
        )
        self.client = Minio(
            self.endpoint,
            access_key=access_key,
            secret_key=secret_key,
            secure=secure,
            region=region,
            http_client=http,
        )

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        from minio.error import S3Error
        from urllib3.exceptions import HTTPError

        from atlas_resources import breakers

        try:
            return breakers.guarded("S3", self.endpoint, fn, *args, **kwargs)
        except ServiceUnavailable:
            raise
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchBucket"):
                raise AtlasError(f"s3://{what} does not exist") from exc
            raise AtlasError(f"S3 {exc.code} on s3://{what}: {exc.message}") from exc
        except (HTTPError, OSError) as exc:
            raise ServiceUnavailable(
                f"S3 endpoint {self.endpoint} is unreachable ({type(exc).__name__})"
            ) from exc

    def uri(self, bucket: str, key: str = "") -> str:
        return f"s3://{bucket}/{key}" if key else f"s3://{bucket}"

    def ensure_buckets(self, buckets: Iterable[str] = BUCKETS) -> None:
        for bucket in buckets:
            if not self._call(bucket, self.client.bucket_exists, bucket):
                from minio.error import S3Error

                try:
                    self.client.make_bucket(bucket)
                except S3Error as exc:
                    if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                        raise AtlasError(f"cannot create bucket {bucket}: {exc.code}") from exc

    def put_file(self, bucket: str, key: str, path: Path) -> None:
        from minio.commonconfig import CopySource

        tmp = TMP_PREFIX + uuid.uuid4().hex
        self._call(f"{bucket}/{key}", self.client.fput_object, bucket, tmp, str(path))
        try:
            self._call(
                f"{bucket}/{key}", self.client.copy_object, bucket, _check_key(key), CopySource(bucket, tmp)
            )
        finally:
            self._call(f"{bucket}/{tmp}", self.client.remove_object, bucket, tmp)

    def get_file(self, bucket: str, key: str, path: Path) -> None:
        self._call(f"{bucket}/{key}", self.client.fget_object, bucket, key, str(path))

    def open(self, bucket: str, key: str) -> BinaryIO:
        # Spool to disk: a seekable, bounded-memory stream that does not hold an HTTP connection open.
        spool = tempfile.TemporaryFile(prefix="atlas-s3-")
        response = self._call(f"{bucket}/{key}", self.client.get_object, bucket, key)
        try:
            for chunk in response.stream(1 << 20):
                spool.write(chunk)
        finally:
            response.close()
            response.release_conn()
        spool.seek(0)
        return spool

    def exists(self, bucket: str, key: str) -> bool:
        try:
            self._call(f"{bucket}/{key}", self.client.stat_object, bucket, key)
            return True
        except AtlasError as exc:
            if isinstance(exc, ServiceUnavailable):
                raise
            return False

    def list(self, bucket: str, prefix: str = "") -> list[str]:
        objects = self._call(
            f"{bucket}/{prefix}",
            lambda: list(self.client.list_objects(bucket, prefix=prefix, recursive=True)),
        )
        return sorted(o.object_name for o in objects if not o.object_name.startswith(TMP_PREFIX))

    def list_modified(self, bucket: str, prefix: str = "") -> ModifiedKeys:
        objects = self._call(
            f"{bucket}/{prefix}",
            lambda: list(self.client.list_objects(bucket, prefix=prefix, recursive=True)),
        )
        return sorted(
            (o.object_name, o.last_modified.astimezone(UTC))
            for o in objects
            if not o.object_name.startswith(TMP_PREFIX) and o.last_modified is not None
        )

    def list_temporary(self, bucket: str) -> ModifiedKeys:
        objects = self._call(
            f"{bucket}/{TMP_PREFIX}",
            lambda: list(self.client.list_objects(bucket, prefix=TMP_PREFIX, recursive=True)),
        )
        return sorted(
            (o.object_name, o.last_modified.astimezone(UTC)) for o in objects if o.last_modified is not None
        )

    def delete(self, bucket: str, key: str) -> None:
        self._call(f"{bucket}/{key}", self.client.remove_object, bucket, key)

    def copy(self, bucket: str, src: str, dst: str) -> None:
        from minio.commonconfig import CopySource

        self._call(
            f"{bucket}/{dst}", self.client.copy_object, bucket, _check_key(dst), CopySource(bucket, src)
        )


def lake_from_settings(settings: AtlasSettings, root: Path | None = None) -> Lake:
    """The lake the settings select: S3 when ``ATLAS_S3_ENDPOINT`` is set, else the local directory
    (``root``, or the settings' lake root). The one place that choice is made."""
    if settings.s3_endpoint:
        if not (settings.s3_access_key and settings.s3_secret_key):
            raise AtlasError(
                "ATLAS_S3_ENDPOINT is set: ATLAS_S3_ACCESS_KEY and ATLAS_S3_SECRET_KEY are required"
            )
        return S3Lake(
            settings.s3_endpoint,
            settings.s3_access_key.get_secret_value(),
            settings.s3_secret_key.get_secret_value(),
            secure=settings.s3_secure,
            region=settings.s3_region,
        )
    return LocalLake(root or settings.lake_root)
