"""Listing Azure Blob Storage with each blob's Content-MD5 (`azure-storage-blob`).

Azure keeps a Content-MD5 only when the uploader set one: Put Blob in one request sets it;
uploads in blocks (Put Block List: `pyarrow.fs`, azcopy by default, large SDK uploads) leave it
empty, and the blob's ETag changes on every write, even of the same bytes. Blobs without one
get this tool's own SHA-256 (`engine.file_strategies`). A connection on Azure's default
credential chain (no key, no SAS) is listed through `pyarrow.fs`, without checksums: the SDK
would need azure-identity for that chain.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property
from typing import TYPE_CHECKING, Any

from etl_bigquery.engine.sources.files.listing import Descend, Listed, arrow_time_of, md5_version

if TYPE_CHECKING:
    from etl_bigquery.engine.sources.files.store import StoreSettings


def account_url(settings: StoreSettings) -> str:
    """The blob service's URL as `pyarrow.fs.AzureFileSystem` builds it: an endpoint host
    starting with '.' is a domain under the account's name, any other (an emulator, Azure Stack)
    takes the account name as the first path segment."""
    account = settings.account_name or ""
    if not settings.endpoint:
        return f"https://{account}.blob.core.windows.net"
    scheme, _, host = settings.endpoint.partition("://")
    host = host.rstrip("/")
    return f"{scheme}://{account}{host}" if host.startswith(".") else f"{scheme}://{host}/{account}"


class AzureLister:
    def __init__(self, settings: StoreSettings) -> None:
        self.settings = settings

    @cached_property
    def service(self) -> Any:
        from azure.storage.blob import BlobServiceClient

        s = self.settings
        credential: Any = None
        if s.account_key:
            credential = {"account_name": s.account_name, "account_key": s.account_key}
        elif s.sas_token:
            credential = s.sas_token.lstrip("?")
        return BlobServiceClient(
            account_url(s), credential=credential, connection_timeout=s.timeout_seconds,
            read_timeout=max(s.timeout_seconds, 60), retry_total=2,
        )  # fmt: skip

    def walk(self, base: str, descend: Descend) -> Iterator[Listed]:
        container, _, folder = base.partition("/")
        prefix = f"{folder.rstrip('/')}/" if folder else None
        blobs = self.service.get_container_client(container).list_blobs(name_starts_with=prefix)
        for blob in blobs:
            if not blob.name.endswith("/"):
                yield _listed(container, blob)

    def stat(self, path: str) -> Listed | None:
        from azure.core.exceptions import ResourceNotFoundError

        container, _, name = path.partition("/")
        try:
            properties = self.service.get_blob_client(container, name).get_blob_properties()
        except ResourceNotFoundError:
            return None
        return _listed(container, properties)


def _listed(container: str, blob: Any) -> Listed:
    checksum = md5_version(blob.content_settings.content_md5 if blob.content_settings else None)
    return Listed(
        f"{container}/{blob.name}", int(blob.size or 0), arrow_time_of(blob.last_modified),
        checksum,
    )  # fmt: skip
