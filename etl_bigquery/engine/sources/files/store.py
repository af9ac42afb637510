"""Object stores as one interface: Cloud Storage, S3, Azure Blob and local folders.

Objects are listed by the store's own client, with the checksum the store keeps of each
object's bytes (`engine.sources.files.listing`), and read through a `pyarrow.fs` filesystem
(`arrow_fs`) as streams, a block at a time, so no file is ever held in memory whole. One
connection is one bucket (or container, or folder) plus an optional prefix: its *root*.
Everything below is named relative to that root, and nothing outside it is listed or opened
(`engine.sources.files.paths`): names given by a job, a command or the console are checked,
every listed path is checked, and every opened path again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs

from etl_bigquery.engine.errors import (
    ConfigurationError,
    ConnectionFailed,
    EtlError,
    ExtractionError,
    ValidationError,
)
from etl_bigquery.engine.sources.files import paths
from etl_bigquery.engine.sources.files.arrow_fs import arrow_filesystem
from etl_bigquery.engine.sources.files.failures import store_failure
from etl_bigquery.engine.sources.files.globs import glob_escape, glob_regex, may_match_below
from etl_bigquery.engine.sources.files.listing import Listed, Lister, lister_for

STORE_TYPES = ("gcs", "s3", "azure_blob", "local")
SCHEMES = {"gcs": "gs", "s3": "s3", "azure_blob": "azure", "local": "file"}
SHA256 = "sha256:"
_HASH_BLOCK = 8 * 1024 * 1024

__all__ = [
    "SCHEMES", "STORE_TYPES", "FileStore", "StoreSettings", "StoredFile", "glob_escape",
    "glob_regex",
]  # fmt: skip


@dataclass(frozen=True)
class StoreSettings:
    """What a file reader needs, secrets resolved; built by the `ETL File Connection` block."""

    type: str
    bucket: str
    """Bucket (gcs, s3), container (azure_blob) or folder path (local)."""
    prefix: str = ""
    endpoint: str | None = None
    """Emulators and S3-compatible stores: http://127.0.0.1:4443, http://minio:9000 ..."""
    region: str | None = None
    account_name: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = field(default=None, repr=False)
    account_key: str | None = field(default=None, repr=False)
    sas_token: str | None = field(default=None, repr=False)
    service_account_info: dict[str, Any] | None = field(default=None, repr=False)
    anonymous: bool = False
    timeout_seconds: int = 10

    @property
    def root(self) -> str:
        """The filesystem path of the connection's root (no trailing slash)."""
        base = str(Path(self.bucket).resolve()) if self.type == "local" else self.bucket
        prefix = self.prefix.strip("/")
        return f"{base.rstrip('/')}/{prefix}" if prefix else base.rstrip("/")

    def uri(self, path: str) -> str:
        """The user-facing address of a filesystem path: gs://, s3://, azure://, file://."""
        if self.type == "local":
            return Path(path).as_uri()
        return f"{SCHEMES[self.type]}://{path}"

    def describe(self) -> str:
        return self.uri(self.root) + ("/" if self.prefix else "")


@dataclass(frozen=True)
class StoredFile:
    """One object as listed: its path, size, last-modified time (UTC) and checksum."""

    path: str
    """Filesystem path (bucket/key) as the filesystem opens it."""
    uri: str
    name: str
    """Relative to the connection's root: what globs match and what the user sees."""
    size: int
    modified: dt.datetime
    checksum: str | None = None
    """What the content is: the store's checksum (`md5:`, `etag:`, `crc32c:`), or `sha256:`
    once this tool computed one (`with_content_hash`); None while unknown."""

    @property
    def legacy_version(self) -> str:
        """Size and last-modified, always written the same way from the same types (an aware
        UTC datetime with microseconds): the version releases before content versions wrote,
        which tables loaded by them hold."""
        return f"{self.size}|{self.modified.astimezone(dt.UTC).isoformat(timespec='microseconds')}"

    @property
    def version(self) -> str:
        """What `_etl_source_version` records: the store's checksum, or a computed SHA-256 with
        the size and last-modified it was computed at (so a file whose size and time did not
        move is not read again to know it); the legacy version while no checksum is known."""
        if self.checksum is None:
            return self.legacy_version
        if self.checksum.startswith(SHA256):
            return f"{self.checksum}|{self.legacy_version}"
        return self.checksum

    @property
    def store_checksum(self) -> bool:
        """The store keeps a checksum of this object's bytes (no need to compute one)."""
        return self.checksum is not None and not self.checksum.startswith(SHA256)

    def with_content_hash(self, hexdigest: str) -> StoredFile:
        return replace(self, checksum=f"{SHA256}{hexdigest}")


class FileStore:
    """One connection's bucket: list, stat and open objects, never outside its root."""

    def __init__(self, settings: StoreSettings) -> None:
        if settings.type not in STORE_TYPES:
            raise ValidationError(
                f"File store type {settings.type!r} is not one of {', '.join(STORE_TYPES)}."
            )
        self.settings = settings

    @cached_property
    def fs(self) -> pafs.FileSystem:
        return arrow_filesystem(self.settings)

    @cached_property
    def lister(self) -> Lister:
        return lister_for(self.settings, lambda: self.fs)

    def check(self) -> None:
        """The bucket (container, folder) exists and can be listed; `ConnectionFailed` if not."""
        try:
            info = self.fs.get_file_info(self._bucket_path())
        except Exception as error:
            raise store_failure(error, self.settings) from None
        if info.type == pafs.FileType.NotFound:
            kind = {"local": "Folder", "azure_blob": "Container"}.get(self.settings.type, "Bucket")
            raise ConnectionFailed(
                f"{kind} '{self.settings.bucket}' does not exist.", transient=False
            )

    def _bucket_path(self) -> str:
        if self.settings.type == "local":
            return str(Path(self.settings.bucket).resolve())
        return self.settings.bucket.strip("/")

    def _check_input(self, what: str, value: str) -> None:
        problem = paths.path_problem(value)
        if problem:  # what a user typed (a command, the console): bad input, not a failed run
            raise ConfigurationError(paths.refusal(what, value, problem))

    def list(
        self, prefix: str = "", glob: str = "**", limit: int | None = None
    ) -> list[StoredFile]:
        """Objects under `prefix` (relative to the root) whose relative name matches `glob`,
        sorted by name; `limit` stops early. A prefix or glob that could name something outside
        the root, and a matching file that would be read from outside it, are refused."""
        self._check_input("Prefix", prefix)
        self._check_input("Glob", glob)
        root = self.settings.root
        # List the folder holding the prefix; a partial name ('exports/2026-') filters below.
        folder, _, _ = prefix.rpartition("/")
        base = f"{root}/{folder}".rstrip("/") if folder else root
        pattern = glob_regex(glob)

        def descend(parts: tuple[str, ...]) -> bool:
            below = "/".join((folder, *parts) if folder else parts) + "/"
            near_prefix = below.startswith(prefix) or prefix.startswith(below)
            return near_prefix and may_match_below(parts, glob)

        found = []
        try:
            for listed in self.lister.walk(base, descend):
                name = listed.path[len(root) :].lstrip("/")
                if not listed.path.startswith(root + "/") or not name.startswith(prefix):
                    continue
                # The glob is matched below the prefix's folder: prefix 'exports/', glob '*.csv'.
                if not pattern.match(name[len(folder) + 1 :] if folder else name):
                    continue
                self._check_listed(listed, name)
                found.append(self._stored(listed, name))
        except EtlError:
            raise
        except Exception as error:
            raise store_failure(error, self.settings) from None
        found.sort(key=lambda f: f.name)
        return found[:limit] if limit is not None else found

    def _check_listed(self, listed: Listed, name: str) -> None:
        if listed.escapes:
            from etl_bigquery.engine.sources.files.listing_local import link_refusal

            raise link_refusal(self.settings, listed.path)
        problem = paths.key_problem(name)
        if problem:
            raise ValidationError(
                f"Object {self.settings.uri(listed.path)} {problem}, so it is not read; rename "
                "it, or narrow the prefix or glob so it is not matched."
            )

    def _stored(self, listed: Listed, name: str) -> StoredFile:
        return StoredFile(
            listed.path, self.settings.uri(listed.path), name, listed.size, listed.modified,
            listed.checksum,
        )  # fmt: skip

    def stat(self, name: str) -> StoredFile:
        self._check_input("File", name)
        path = f"{self.settings.root}/{name}"
        try:
            listed = self.lister.stat(path)
        except EtlError:
            raise
        except Exception as error:
            raise store_failure(error, self.settings) from None
        if listed is None:
            raise ValidationError(
                f"File '{name}' does not exist in {self.settings.describe()}; "
                "`etl connection files` lists them."
            )
        return self._stored(listed, name)

    def _guard(self, file: StoredFile) -> None:
        """Every opened path, once more: under the root (local: with links resolved)."""
        if self.settings.type == "local":
            inside = paths.inside_folder(os.path.realpath(self.settings.root), file.path)
        else:
            inside = paths.under_root(self.settings.root, file.path)
        if not inside:
            raise ValidationError(
                f"{file.uri} is outside {self.settings.describe()}, so it is not read; a job "
                "reads only under its connection's folder or bucket."
            )

    def open_stream(self, file: StoredFile) -> Any:
        self._guard(file)
        try:
            return self.fs.open_input_stream(file.path, compression=None)
        except Exception as error:
            raise self._open_failure(error, file) from None

    def open_random_access(self, file: StoredFile) -> Any:
        self._guard(file)
        try:
            return self.fs.open_input_file(file.path)
        except Exception as error:
            raise self._open_failure(error, file) from None

    def content_hash(self, file: StoredFile) -> str:
        """SHA-256 of the file's bytes (as stored: a .gz is hashed compressed), read as a
        stream, for files whose store keeps no checksum."""
        digest = hashlib.sha256()
        with self.open_stream(file) as stream:
            try:
                while block := stream.read(_HASH_BLOCK):
                    digest.update(block)
            except OSError as error:
                raise self._open_failure(error, file) from None
        return digest.hexdigest()

    def _open_failure(self, error: Exception, file: StoredFile) -> EtlError:
        """A file listed by this run but gone when opened is said so, not reported as the store
        failing; not transient: the run's retries read the same planned files, the next run
        lists them anew."""
        try:
            gone = self.fs.get_file_info(file.path).type == pafs.FileType.NotFound
        except Exception:
            gone = False
        if gone:
            return ExtractionError(
                f"File {file.uri} was deleted after this run listed it; nothing was loaded. "
                "Run the job again (it lists the files anew)."
            )
        return store_failure(error, self.settings)
