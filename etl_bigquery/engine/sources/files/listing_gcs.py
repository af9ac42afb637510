"""Listing Cloud Storage with each object's MD5 (`google-cloud-storage`).

Objects uploaded whole carry `md5Hash`; composite objects (parallel composite uploads) carry
only `crc32c`, used with the size. The last-modified time is `timeCreated`, as `pyarrow.fs`
reports it (an object's bytes never change after creation; `updated` moves with metadata).
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property
from typing import TYPE_CHECKING, Any

from etl_bigquery.engine.sources.files.listing import Descend, Listed, arrow_time_of, md5_version

if TYPE_CHECKING:
    from etl_bigquery.engine.sources.files.store import StoreSettings

READ_ONLY_SCOPE = "https://www.googleapis.com/auth/devstorage.read_only"
_FIELDS = "items(name,size,md5Hash,crc32c,timeCreated),nextPageToken"


class GcsLister:
    def __init__(self, settings: StoreSettings) -> None:
        self.settings = settings

    @cached_property
    def client(self) -> Any:
        from google.api_core.client_options import ClientOptions
        from google.cloud import storage

        s = self.settings
        options = ClientOptions(api_endpoint=s.endpoint) if s.endpoint else None
        credentials: Any = None
        project = "-"  # listing objects needs no project; naming one skips a lookup
        if s.anonymous:
            from google.auth.credentials import AnonymousCredentials

            credentials = AnonymousCredentials()
        elif s.service_account_info:
            from google.oauth2 import service_account

            credentials = service_account.Credentials.from_service_account_info(
                s.service_account_info, scopes=[READ_ONLY_SCOPE]
            )
            project = s.service_account_info.get("project_id") or project
        return storage.Client(project=project, credentials=credentials, client_options=options)

    @cached_property
    def _call(self) -> dict[str, Any]:
        from google.cloud.storage.retry import DEFAULT_RETRY

        timeout = self.settings.timeout_seconds
        # The client's default retries a refused connection for two minutes.
        return {"timeout": (timeout, max(timeout, 60)), "retry": DEFAULT_RETRY.with_timeout(
            max(timeout, 10))}  # fmt: skip

    def walk(self, base: str, descend: Descend) -> Iterator[Listed]:
        bucket, _, folder = base.partition("/")
        prefix = f"{folder.rstrip('/')}/" if folder else None
        blobs = self.client.list_blobs(bucket, prefix=prefix, fields=_FIELDS, **self._call)
        for blob in blobs:
            if not blob.name.endswith("/"):  # a folder placeholder, not a file
                yield self._listed(bucket, blob)

    def stat(self, path: str) -> Listed | None:
        bucket, _, key = path.partition("/")
        blob = self.client.bucket(bucket).get_blob(key, **self._call)
        return None if blob is None else self._listed(bucket, blob)

    @staticmethod
    def _listed(bucket: str, blob: Any) -> Listed:
        size = int(blob.size or 0)
        checksum = md5_version(blob.md5_hash)
        if checksum is None and blob.crc32c:
            checksum = f"crc32c:{blob.crc32c}|{size}"
        return Listed(f"{bucket}/{blob.name}", size, arrow_time_of(blob.time_created), checksum)
