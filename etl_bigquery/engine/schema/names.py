"""BigQuery column names from source column names.

Rules: accents are dropped (café → cafe), any other character outside [a-z0-9_] becomes `_`,
names are lower case, never start with a digit, never use a prefix BigQuery reserves, and are at
most 300 characters. Two source columns that end up with the same name are never merged: in source
order, the first keeps the name and the next ones get `_2`, `_3`, ... so the mapping is
deterministic for a given column list.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

MAX_COLUMN_NAME = 300
# Our own metadata columns; a source column may not take these names.
METADATA_PREFIX = "_etl_"
_RESERVED_PREFIXES = (
    "_table_",
    "_file_",
    "_partition",
    "_row_timestamp",
    "__root__",
    "_colidentifier",
)
_INVALID = re.compile(r"[^a-z0-9_]")


def sanitize_column_name(name: str) -> str:
    """One source name → a valid BigQuery name (before collision handling)."""
    decomposed = unicodedata.normalize("NFKD", name)
    ascii_only = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    cleaned = _INVALID.sub("_", ascii_only.lower())
    if not cleaned:
        cleaned = "_"
    if cleaned[0].isdigit():
        cleaned = "_" + cleaned
    if cleaned.startswith(_RESERVED_PREFIXES) or cleaned.startswith(METADATA_PREFIX):
        cleaned = "col" + cleaned
    return cleaned[:MAX_COLUMN_NAME]


def map_column_names(names: Iterable[str], taken: Iterable[str] = ()) -> dict[str, str]:
    """Source name → unique BigQuery name, for all `names` in order.

    `taken` are names already used (e.g. metadata columns) that no source column may receive.
    """
    used = {name.lower() for name in taken}
    mapping: dict[str, str] = {}
    for name in names:
        base = sanitize_column_name(name)
        candidate = base
        counter = 1
        # BigQuery column names are case-insensitive, hence the lower-case bookkeeping.
        while candidate.lower() in used:
            counter += 1
            suffix = f"_{counter}"
            candidate = base[: MAX_COLUMN_NAME - len(suffix)] + suffix
        used.add(candidate.lower())
        mapping[name] = candidate
    return mapping
