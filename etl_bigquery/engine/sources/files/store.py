"""Object stores as one interface: Cloud Storage, S3, Azure Blob and local folders.

Every store is reached through a `pyarrow.fs` filesystem (Arrow's own GCS, S3 and Azure clients):
listing gives each object's size and last-modified time, and objects are read as streams, a block
at a time, so no file is ever held in memory whole. One connection is one bucket (or container,
or folder) plus an optional prefix; everything below is named relative to that root.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs

from etl_bigquery.engine.errors import ConnectionFailed, EtlError, ExtractionError, ValidationError

STORE_TYPES = ("gcs", "s3", "azure_blob", "local")
SCHEMES = {"gcs": "gs", "s3": "s3", "azure_blob": "azure", "local": "file"}
# Azurite's well-known development account; only used when a connection names it.
READ_ONLY_SCOPE = "https://www.googleapis.com/auth/devstorage.read_only"


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
    """One object as listed: its path, size and last-modified time (UTC)."""

    path: str
    """Filesystem path (bucket/key) as the filesystem opens it."""
    uri: str
    name: str
    """Relative to the connection's root: what globs match and what the user sees."""
    size: int
    modified: dt.datetime

    @property
    def version(self) -> str:
        """Size and last-modified, always written the same way from the same types (an aware
        UTC datetime with microseconds), so two listings compare as equal strings."""
        return f"{self.size}|{self.modified.astimezone(dt.UTC).isoformat(timespec='microseconds')}"


def glob_regex(pattern: str) -> re.Pattern[str]:
    """`*` and `?` stay within one folder, `**` crosses folders (`**/` may match none),
    `[abc]` is a character class."""
    out = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape(ch))
            else:
                body = pattern[i + 1 : end].replace("\\", "\\\\").replace("[", "\\[")
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = end
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out) + r"\Z")


def glob_escape(name: str) -> str:
    """A glob matching exactly `name`, whatever it holds: `*`, `?` and `[` as one-character
    classes (a file may be called 'orders [1].csv')."""
    return "".join(f"[{ch}]" if ch in "*?[" else ch for ch in name)


def _failure(error: Exception, settings: StoreSettings) -> ConnectionFailed:
    """An error of the store's client as one sentence (no secrets: only the kind of failure)."""
    text = str(error).lower()
    where = settings.describe()
    if any(
        s in text for s in ("refused", "couldn't connect", "could not connect", "failed to connect")
    ):
        return ConnectionFailed("Connection refused. Check host/port.", transient=True)
    if any(s in text for s in ("timed out", "timeout")):
        return ConnectionFailed("Connection timed out. Check network.", transient=True)
    if any(
        s in text
        for s in ("invalidaccesskeyid", "signaturedoesnotmatch", "authenticationfailed",
                  "401", "invalid_grant", "unauthenticated", "credentials")
    ):  # fmt: skip
        return ConnectionFailed(
            "Authentication failed. Check the access key, secret or service account.",
            transient=False,
        )
    if any(s in text for s in ("accessdenied", "access denied", "403", "authorizationfailure")):
        return ConnectionFailed("Access denied. Check user permissions.", transient=False)
    if any(s in text for s in ("nosuchbucket", "containernotfound", "bucket does not exist")):
        return ConnectionFailed(f"Bucket or container of {where} does not exist.", transient=False)
    if any(s in text for s in ("could not resolve", "name or service not known")):
        return ConnectionFailed(
            "Could not resolve the store's host name. Check the endpoint and network.",
            transient=True,
        )
    first = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
    return ConnectionFailed(f"Reading {where} failed: {first}", transient=True)


class FileStore:
    """One connection's bucket: list, stat and open objects."""

    def __init__(self, settings: StoreSettings) -> None:
        if settings.type not in STORE_TYPES:
            raise ValidationError(
                f"File store type {settings.type!r} is not one of {', '.join(STORE_TYPES)}."
            )
        self.settings = settings

    @cached_property
    def fs(self) -> pafs.FileSystem:
        s = self.settings
        if s.type == "local":
            return pafs.LocalFileSystem()
        if s.type == "s3":
            kwargs: dict[str, Any] = {
                "region": s.region or "us-east-1",
                "connect_timeout": s.timeout_seconds,
                "request_timeout": max(s.timeout_seconds, 60),
            }
            if s.anonymous:
                kwargs["anonymous"] = True
            elif s.access_key_id:
                kwargs["access_key"] = s.access_key_id
                kwargs["secret_key"] = s.secret_access_key
            if s.endpoint:
                scheme, _, host = s.endpoint.partition("://")
                kwargs["endpoint_override"] = host.rstrip("/")
                kwargs["scheme"] = scheme
            return pafs.S3FileSystem(**kwargs)
        if s.type == "gcs":
            kwargs = {"retry_time_limit": dt.timedelta(seconds=max(s.timeout_seconds, 10))}
            if s.endpoint:
                scheme, _, host = s.endpoint.partition("://")
                kwargs["endpoint_override"] = host.rstrip("/")
                kwargs["scheme"] = scheme
            if s.anonymous:
                kwargs["anonymous"] = True
            elif s.service_account_info:
                token, expiry = _gcs_token(s.service_account_info)
                kwargs["access_token"] = token
                kwargs["credential_token_expiration"] = expiry
            return pafs.GcsFileSystem(**kwargs)
        kwargs = {"account_name": s.account_name}
        if s.account_key:
            kwargs["account_key"] = s.account_key
        elif s.sas_token:
            kwargs["sas_token"] = s.sas_token.lstrip("?")
        if s.endpoint:
            scheme, _, host = s.endpoint.partition("://")
            host = host.rstrip("/")
            kwargs.update(
                blob_storage_authority=host,
                blob_storage_scheme=scheme,
                dfs_storage_authority=host,
                dfs_storage_scheme=scheme,
            )
        return pafs.AzureFileSystem(**kwargs)

    def check(self) -> None:
        """The bucket (container, folder) exists and can be listed; `ConnectionFailed` if not."""
        try:
            info = self.fs.get_file_info(self._bucket_path())
        except Exception as error:
            raise _failure(error, self.settings) from None
        if info.type == pafs.FileType.NotFound:
            kind = {"local": "Folder", "azure_blob": "Container"}.get(self.settings.type, "Bucket")
            raise ConnectionFailed(
                f"{kind} '{self.settings.bucket}' does not exist.", transient=False
            )

    def _bucket_path(self) -> str:
        if self.settings.type == "local":
            return str(Path(self.settings.bucket).resolve())
        return self.settings.bucket.strip("/")

    def list(
        self, prefix: str = "", glob: str = "**", limit: int | None = None
    ) -> list[StoredFile]:
        """Objects under `prefix` (relative to the root) whose relative name matches `glob`,
        sorted by name; `limit` stops early."""
        root = self.settings.root
        prefix = prefix.lstrip("/")
        # List the folder holding the prefix; a partial name ('exports/2026-') filters below.
        folder, _, _ = prefix.rpartition("/")
        base = f"{root}/{folder}".rstrip("/") if folder else root
        pattern = glob_regex(glob)
        try:
            infos = self.fs.get_file_info(
                pafs.FileSelector(base, recursive=True, allow_not_found=True)
            )
        except Exception as error:
            raise _failure(error, self.settings) from None
        found = []
        for info in infos:
            if info.type != pafs.FileType.File:
                continue
            name = info.path[len(root) :].lstrip("/")
            if not name.startswith(prefix):
                continue
            # The glob is matched below the prefix's folder: prefix 'exports/', glob '*.csv'.
            if not pattern.match(name[len(folder) + 1 :] if folder else name):
                continue
            modified = info.mtime
            if modified is None:
                modified = dt.datetime.fromtimestamp(0, dt.UTC)
            elif modified.tzinfo is None:
                modified = modified.replace(tzinfo=dt.UTC)
            found.append(
                StoredFile(
                    info.path, self.settings.uri(info.path), name, int(info.size or 0), modified
                )
            )
        found.sort(key=lambda f: f.name)
        return found[:limit] if limit is not None else found

    def stat(self, name: str) -> StoredFile:
        path = f"{self.settings.root}/{name.lstrip('/')}"
        try:
            info = self.fs.get_file_info(path)
        except Exception as error:
            raise _failure(error, self.settings) from None
        if info.type != pafs.FileType.File:
            raise ValidationError(
                f"File '{name}' does not exist in {self.settings.describe()}; "
                "`etl connection files` lists them."
            )
        modified = info.mtime or dt.datetime.fromtimestamp(0, dt.UTC)
        if modified.tzinfo is None:
            modified = modified.replace(tzinfo=dt.UTC)
        return StoredFile(path, self.settings.uri(path), name, int(info.size or 0), modified)

    def open_stream(self, file: StoredFile) -> Any:
        try:
            return self.fs.open_input_stream(file.path, compression=None)
        except Exception as error:
            raise self._open_failure(error, file) from None

    def open_random_access(self, file: StoredFile) -> Any:
        try:
            return self.fs.open_input_file(file.path)
        except Exception as error:
            raise self._open_failure(error, file) from None

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
        return _failure(error, self.settings)


def _gcs_token(info: dict[str, Any]) -> tuple[str, dt.datetime]:
    """A read-only access token for Arrow's GCS client from a service-account key."""
    from google.auth.transport.requests import Request
    from google.oauth2 import service_account

    credentials = service_account.Credentials.from_service_account_info(
        info, scopes=[READ_ONLY_SCOPE]
    )
    try:
        credentials.refresh(Request())
    except Exception:
        raise ConnectionFailed(
            "Authentication failed. Check the service account key.", transient=False
        ) from None
    expiry = credentials.expiry or dt.datetime.now(dt.UTC) + dt.timedelta(minutes=50)
    if expiry.tzinfo is None:
        expiry = expiry.replace(tzinfo=dt.UTC)
    return str(credentials.token), expiry
