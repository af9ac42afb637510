"""Column lists kept in a BigQuery column's description: `<prefix><JSON list of names>`.

The identity of a transactional table (`engine.fingerprint`), its version columns
(`engine.row_version`) and a merge table's key (`engine.merge.hashes`) are each fixed when the
column is created and written in that column's description, so later runs hash exactly the
columns earlier loads hashed. The prefix names what the list is and the digest encoding; a
description with another prefix (another encoding, or edited by hand) names no list.
"""

from __future__ import annotations

import json
from collections.abc import Sequence


def describe_columns(prefix: str, columns: Sequence[str]) -> str:
    """The description naming `columns` after `prefix`."""
    return prefix + json.dumps(list(columns))


def columns_from_description(
    text: str | None, prefix: str, *, allow_empty: bool = False
) -> tuple[str, ...] | None:
    """The column names a description written by `describe_columns(prefix, ...)` holds, or None
    when it was not (another prefix, not a JSON list of names, or empty unless `allow_empty`)."""
    if not text or not text.startswith(prefix):
        return None
    try:
        names = json.loads(text[len(prefix) :])
    except ValueError:
        return None
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        return None
    if not names and not allow_empty:
        return None
    return tuple(names)
