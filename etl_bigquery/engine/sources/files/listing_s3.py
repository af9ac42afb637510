"""Listing S3 (and S3-compatible stores) with each object's ETag (`boto3`).

An object uploaded in one PUT has the MD5 of its bytes as ETag; a multipart upload has the MD5
of its parts' MD5s and the part count (`<hex>-<n>`): the same bytes uploaded again in parts of
another size give another ETag (seen as changed: the file's rows are replaced by the same rows).
Objects encrypted with SSE-KMS or SSE-C have an ETag that is not an MD5; it stays the same
until the object is written again.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property
from typing import TYPE_CHECKING, Any

from etl_bigquery.engine.sources.files.listing import Descend, Listed, arrow_time_of

if TYPE_CHECKING:
    from etl_bigquery.engine.sources.files.store import StoreSettings


class S3Lister:
    def __init__(self, settings: StoreSettings) -> None:
        self.settings = settings

    @cached_property
    def client(self) -> Any:
        import boto3
        from botocore import UNSIGNED
        from botocore.config import Config

        s = self.settings
        config = Config(
            connect_timeout=s.timeout_seconds,
            read_timeout=max(s.timeout_seconds, 60),
            retries={"max_attempts": 3, "mode": "standard"},
            signature_version=UNSIGNED if s.anonymous else None,
            # Path-style addressing at an endpoint (MinIO, emulators), as Arrow's S3 client uses.
            s3={"addressing_style": "path"} if s.endpoint else None,
        )
        keys: dict[str, Any] = {}
        if s.access_key_id and not s.anonymous:
            keys = {
                "aws_access_key_id": s.access_key_id,
                "aws_secret_access_key": s.secret_access_key,
            }
        return boto3.session.Session().client(
            "s3", endpoint_url=s.endpoint, region_name=s.region or "us-east-1", config=config,
            **keys,
        )  # fmt: skip

    def walk(self, base: str, descend: Descend) -> Iterator[Listed]:
        bucket, _, folder = base.partition("/")
        prefix = f"{folder.rstrip('/')}/" if folder else ""
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for page in pages:
            for item in page.get("Contents", ()):
                if not item["Key"].endswith("/"):  # a folder placeholder, not a file
                    yield _listed(bucket, item["Key"], item["Size"], item["LastModified"],
                                  item.get("ETag"))  # fmt: skip

    def stat(self, path: str) -> Listed | None:
        from botocore.exceptions import ClientError

        bucket, _, key = path.partition("/")
        try:
            head = self.client.head_object(Bucket=bucket, Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return _listed(bucket, key, head["ContentLength"], head["LastModified"], head.get("ETag"))


def _listed(bucket: str, key: str, size: int, modified: Any, etag: str | None) -> Listed:
    checksum = f"etag:{etag.strip(chr(34))}" if etag else None
    return Listed(f"{bucket}/{key}", int(size or 0), arrow_time_of(modified), checksum)
