"""Listing a store with each object's checksum: one lister per store, chosen by its type.

`pyarrow.fs` (which reads every store, `engine.sources.files.store`) lists only path, size and
last-modified, so the store's own clients list instead, each giving the checksum the store keeps
of the object's bytes: Cloud Storage's MD5 (or CRC32C for composite objects), S3's ETag, Azure's
Content-MD5 when the uploader set one. A local folder has none (`listing_local`): this tool
computes a SHA-256 when it needs one (`engine.file_strategies`).

Listers raise their client's own exceptions; `FileStore` turns them into one sentence. Times are
given exactly as `pyarrow.fs` gave them (`arrow_time`), so the `size|last-modified` versions
tables hold from earlier releases still compare equal.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import pyarrow.fs as pafs

if TYPE_CHECKING:
    from etl_bigquery.engine.sources.files.store import StoreSettings

Descend = Callable[[tuple[str, ...]], bool]
"""Whether a listing walks into a folder (its names below the listed folder)."""

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Listed:
    """One object as its store lists it."""

    path: str
    """As `pyarrow.fs` opens it: `bucket/key`, or a local file's absolute path."""
    size: int
    modified: dt.datetime
    checksum: str | None
    """`md5:<base64>`, `etag:<hex>[-<parts>]`, `crc32c:<base64>|<size>`; None without one."""
    escapes: bool = False
    """A local symbolic link to a file outside the connection's folder (never read)."""


def arrow_time(nanoseconds: int) -> dt.datetime:
    """A time as `pyarrow.fs.FileInfo.mtime` gives it (nanoseconds over 1e9, rounded by
    `fromtimestamp`): the versions earlier releases wrote were made from that value."""
    return dt.datetime.fromtimestamp(nanoseconds / 1.0e9, dt.UTC)


def arrow_time_of(value: dt.datetime | None) -> dt.datetime:
    if value is None:
        return _EPOCH
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return arrow_time((value - _EPOCH) // dt.timedelta(microseconds=1) * 1000)


def md5_version(digest: bytes | bytearray | str | None) -> str | None:
    """`md5:<base64>` of a digest given as bytes (Azure) or already in base64 (GCS)."""
    if not digest:
        return None
    if isinstance(digest, bytes | bytearray):
        digest = base64.b64encode(bytes(digest)).decode()
    return f"md5:{digest}"


class Lister(Protocol):
    def walk(self, base: str, descend: Descend) -> Iterator[Listed]:
        """Every object below the folder `base` (`bucket/key` or a local folder), at any depth;
        object stores list by key prefix and ignore `descend`."""
        ...

    def stat(self, path: str) -> Listed | None:
        """The object at `path`, None when there is none."""
        ...


class ArrowLister:
    """`pyarrow.fs` listing, without checksums: Azure on its default credential chain (the
    Azure SDK would need azure-identity for it)."""

    def __init__(self, fs: pafs.FileSystem) -> None:
        self.fs = fs

    def walk(self, base: str, descend: Descend) -> Iterator[Listed]:
        infos = self.fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
        for info in infos:
            if info.type == pafs.FileType.File:
                yield self._listed(info)

    def stat(self, path: str) -> Listed | None:
        info = self.fs.get_file_info(path)
        return self._listed(info) if info.type == pafs.FileType.File else None

    @staticmethod
    def _listed(info: pafs.FileInfo) -> Listed:
        modified = arrow_time(info.mtime_ns) if info.mtime_ns is not None else _EPOCH
        return Listed(info.path, int(info.size or 0), modified, None)


def lister_for(settings: StoreSettings, fs: Callable[[], pafs.FileSystem]) -> Lister:
    """The lister of the settings' store (`fs`: the store's Arrow filesystem, for fallbacks)."""
    if settings.type == "local":
        from etl_bigquery.engine.sources.files.listing_local import LocalLister

        return LocalLister(settings)
    if settings.type == "gcs":
        from etl_bigquery.engine.sources.files.listing_gcs import GcsLister

        return GcsLister(settings)
    if settings.type == "s3":
        from etl_bigquery.engine.sources.files.listing_s3 import S3Lister

        return S3Lister(settings)
    if settings.account_key or settings.sas_token or settings.anonymous:
        from etl_bigquery.engine.sources.files.listing_azure import AzureLister

        return AzureLister(settings)
    return ArrowLister(fs())
