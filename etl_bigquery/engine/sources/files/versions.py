"""Is a listed file the version a table already holds? Decided by content.

A table records each row's file address and version (`_etl_source_version`). A listed file is
*held* (unchanged) when the table holds its address under a version that says the same bytes:

- the store's checksum (`md5:`, `etag:`, `crc32c:`) is one of the held versions;
- or a held `sha256:<hash>|<size>|<time>` (computed by this tool for a file whose store keeps no
  checksum) has the file's size and last-modified: not read again to know it; otherwise the
  file is hashed and held when a held SHA-256 has the same hash (a touched file, the same bytes
  written again);
- or the held version is the legacy `<size>|<time>` of earlier releases and still the file's:
  tables loaded before content versions keep loading without a reload.

So a change of metadata only (a touch, a copy onto itself, the same bytes uploaded again) loads
nothing, and any change of bytes is a new version. A file whose store keeps no checksum costs
one read to hash whenever its size or last-modified moved.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from etl_bigquery.engine.sources.files.store import SHA256, StoredFile

Hasher = Callable[[StoredFile], str]
"""SHA-256 (hex) of a file's bytes."""


def _sha_parts(version: str) -> tuple[str, str] | None:
    """(`sha256:<hex>`, `<size>|<time>`) of a computed version; None for other kinds."""
    if not version.startswith(SHA256):
        return None
    digest, _, legacy = version.partition("|")
    return digest, legacy


def known_hash(file: StoredFile, held: Collection[str]) -> str | None:
    """The hash a held version recorded for this file at its current size and time."""
    for version in held:
        parts = _sha_parts(version)
        if parts and parts[1] == file.legacy_version:
            return parts[0].removeprefix(SHA256)
    return None


def check_held(
    file: StoredFile, held: Collection[str], content_hash: Hasher
) -> tuple[StoredFile, bool]:
    """Whether the table holds this file's bytes under `held` (its address's versions); the
    file comes back with its SHA-256 when one was known or computed."""
    if not held:
        return file, False
    if file.store_checksum and file.version in held:
        return file, True
    if file.legacy_version in held:
        return file, True
    computed = None
    if not file.store_checksum:
        known = known_hash(file, held)
        if known is not None:
            return file.with_content_hash(known), True
        computed = content_hash(file)
        file = file.with_content_hash(computed)
    held_hashes = {parts[0] for v in held if (parts := _sha_parts(v))}
    if held_hashes:  # e.g. a blob hashed by this tool before, now with the store's MD5
        computed = computed or content_hash(file)
        if f"{SHA256}{computed}" in held_hashes:
            return file, True
    return file, False


def with_version(file: StoredFile, held: Collection[str], content_hash: Hasher) -> StoredFile:
    """The file with a content version to label its rows with: the store's checksum, else a
    SHA-256 (known from the table at the same size and time, or computed)."""
    if file.checksum is not None:
        return file
    known = known_hash(file, held)
    return file.with_content_hash(known if known is not None else content_hash(file))
