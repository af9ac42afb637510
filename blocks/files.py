"""Object stores as one Prefect block type: `ETL File Connection` (gcs, s3, azure_blob, local).

One block is one bucket (S3, Cloud Storage), container (Azure Blob) or folder (local), with an
optional prefix; the file format is chosen per job. Secrets are Prefect secret fields (stored
encrypted, shown as ******** in the UI) or Google Secret Manager references; a Cloud Storage
connection may instead name a prefect-gcp `GcpCredentials` block. Without keys, each store's
own default credentials are used (the Cloud Run job's service account, an AWS role, Azure's
default credential chain).
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import ClassVar

from prefect.blocks.core import Block
from pydantic import Field, SecretStr, model_validator

from etl_bigquery.blocks.gcp_credentials import GcpCredentials
from etl_bigquery.blocks.logos import LogoUrl
from etl_bigquery.blocks.secrets import resolve_secret
from etl_bigquery.engine.errors import ConfigurationError
from etl_bigquery.engine.sources.base import SourceReader
from etl_bigquery.engine.sources.files.paths import path_problem
from etl_bigquery.engine.sources.files.store import SCHEMES, StoreSettings
from etl_bigquery.engine.sources.registry import SOURCES, source_type

FileStoreType = StrEnum(  # type: ignore[misc]
    "FileStoreType",
    {key.upper(): key for key, source in SOURCES.items() if source.family == "files"},
)
FILE_CONNECTION = LogoUrl("file-connection.svg", "https://cdn.simpleicons.org/googlecloudstorage")
_URI_SCHEMES = {f"{scheme}://": key for key, scheme in SCHEMES.items()} | {
    "az://": "azure_blob",
    "abfs://": "azure_blob",
}


def _absolute(folder: str) -> str:
    """A local folder is saved as an absolute path: its files' addresses are the record of what
    a table holds, so `./drop` read from another working directory would be other files (every
    file loaded again, or none found)."""
    return str(Path(folder).expanduser().absolute()) if folder.strip() else folder


class FileConnection(Block):
    """A bucket, container or folder that ETL jobs read files from (read-only)."""

    _block_type_name: ClassVar[str] = "ETL File Connection"
    _block_type_slug: ClassVar[str] = "etl-file-connection"
    _description: ClassVar[str] = (
        "Files in Cloud Storage, S3, Azure Blob Storage or a local folder, read by ETL jobs. "
        "Tests and runs never change them."
    )
    _logo_url: ClassVar[str] = FILE_CONNECTION  # type: ignore[assignment]

    type: FileStoreType = Field(description="gcs, s3, azure_blob or local.")
    bucket: str = Field(
        min_length=1,
        description="Bucket (gs://bucket/prefix, s3://bucket/prefix or just the name), Azure "
        "container, or for local the folder's path.",
    )
    prefix: str = Field(default="", description="Only files under this prefix, e.g. exports/.")
    region: str | None = Field(default=None, description="S3: the bucket's region.")
    account_name: str | None = Field(default=None, description="Azure: the storage account.")
    endpoint: str | None = Field(
        default=None,
        description="Emulators and S3-compatible stores only, e.g. http://127.0.0.1:9000.",
    )
    access_key_id: str | None = Field(default=None, description="S3: access key id.")
    secret_access_key: SecretStr | None = Field(default=None, description="S3: secret key.")
    secret_access_key_secret: str | None = Field(
        default=None, description="S3: Secret Manager reference instead of secret_access_key."
    )
    account_key: SecretStr | None = Field(default=None, description="Azure: account key.")
    account_key_secret: str | None = Field(
        default=None, description="Azure: Secret Manager reference instead of account_key."
    )
    sas_token: SecretStr | None = Field(
        default=None, description="Azure: a SAS token instead of the account key."
    )
    service_account_info: SecretStr | None = Field(
        default=None, description="Cloud Storage: a service-account key (JSON)."
    )
    gcp_credentials: GcpCredentials | None = Field(
        default=None, description="Cloud Storage: a prefect-gcp GcpCredentials block instead."
    )
    anonymous: bool = Field(
        default=False, description="No credentials at all (public buckets, emulators)."
    )
    timeout_seconds: int = Field(default=10, ge=1, le=300, description="Connect timeout.")

    @model_validator(mode="before")
    @classmethod
    def _bucket_uri(cls, data: object) -> object:
        """`gs://bucket/some/prefix` → bucket and prefix (the type follows the scheme)."""
        if not isinstance(data, dict) or not isinstance(data.get("bucket"), str):
            return data
        bucket = data["bucket"]
        for scheme, key in _URI_SCHEMES.items():
            if bucket.startswith(scheme):
                data = dict(data)
                data.setdefault("type", key)
                if key == "local":
                    data["bucket"] = _absolute(bucket.removeprefix("file://"))
                    return data
                name, _, prefix = bucket.removeprefix(scheme).partition("/")
                data["bucket"] = name
                if prefix and not data.get("prefix"):
                    data["prefix"] = prefix
                return data
        if str(getattr(data.get("type"), "value", data.get("type"))) == "local":
            data = dict(data) | {"bucket": _absolute(bucket)}
        return data

    @model_validator(mode="after")
    def _fields_for_type(self) -> FileConnection:
        kind = self.type.value
        # The connection's root bounds every job on it (engine.sources.files.paths): its own
        # prefix, and a key prefix written into the bucket, may not climb out of it.
        below_bucket = "" if kind == "local" else self.bucket.strip("/").partition("/")[2]
        for what, value in (("prefix", self.prefix.strip("/")), ("bucket", below_bucket)):
            problem = path_problem(value)
            if problem:
                raise ValueError(f"{what} {value!r} {problem}; a connection's prefix is a folder "
                                 "or key prefix inside its bucket, e.g. exports/")  # fmt: skip
        if kind == "azure_blob" and not self.account_name:
            raise ValueError("an azure_blob connection needs account_name (the storage account)")
        if self.account_key is not None and self.sas_token is not None:
            raise ValueError("set either account_key or sas_token, not both")
        if self.service_account_info is not None and self.gcp_credentials is not None:
            raise ValueError("set either service_account_info or gcp_credentials, not both")
        return self

    def identity(self) -> tuple[str, str, str, str]:
        """What makes two connections the same files (duplicates are refused)."""
        return (self.type.value, self.endpoint or "", self.bucket, self.prefix.strip("/"))

    def describe(self) -> str:
        return self.settings(resolve=False).describe()

    def settings(self, *, resolve: bool = True) -> StoreSettings:
        """The reader's settings; `resolve=False` leaves secrets out (for describing)."""
        secret_key = account_key = sas = None
        info = None
        if resolve:
            secret_key = resolve_secret(
                self.secret_access_key, self.secret_access_key_secret, "secret_access_key"
            )
            account_key = resolve_secret(self.account_key, self.account_key_secret, "account_key")
            sas = self.sas_token.get_secret_value() if self.sas_token else None
            info = self._service_account()
        return StoreSettings(
            type=self.type.value,
            bucket=self.bucket,
            prefix=self.prefix,
            endpoint=self.endpoint,
            region=self.region,
            account_name=self.account_name,
            access_key_id=self.access_key_id,
            secret_access_key=secret_key,
            account_key=account_key,
            sas_token=sas,
            service_account_info=info,
            anonymous=self.anonymous,
            timeout_seconds=self.timeout_seconds,
        )

    def _service_account(self) -> dict | None:
        if self.gcp_credentials is not None:
            key = self.gcp_credentials.service_account_info
            return dict(key.get_secret_value()) if key is not None else None
        if self.service_account_info is None:
            return None
        try:
            return json.loads(self.service_account_info.get_secret_value())
        except ValueError:
            raise ConfigurationError(
                "service_account_info is not a JSON service-account key; paste the key file's "
                "content."
            ) from None

    def open_reader(self) -> SourceReader:
        """A Prefect-free reader with secrets resolved."""
        return source_type(self.type.value).open(self.settings())
