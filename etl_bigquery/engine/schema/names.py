"""BigQuery column names from source column names.

Rules: accents are dropped (café → cafe), any other character outside [a-z0-9_] becomes `_`,
names are lower case, never start with a digit, never use a prefix BigQuery reserves, and are at
most 300 characters.

A source column that the destination table already holds keeps that table column, found by the
source name each column's description records (`engine.bigquery.tables.source_description`), so
a query, a CSV header or a document sample that lists the columns in another order never moves a
value into another column. Only new columns get derived names, and those depend on the set of
names, never on their order: two new source columns that clean up alike (`Price (€)`,
`Price ($)`) are never merged; the one first in code-point order of the source names keeps the
clean name and the others get `_2`, `_3`, ... after every name already taken.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

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


@dataclass(frozen=True)
class TableNames:
    """What an existing destination table says about its columns' names."""

    described: Mapping[str, str] = field(default_factory=dict)
    """Source column → the table column whose description names it."""
    undescribed: Collection[str] = ()
    """Table columns whose description names no source column (created by hand or by another
    tool, or our own metadata columns)."""

    @property
    def columns(self) -> set[str]:
        """Every table column, lower case (BigQuery names are case-insensitive)."""
        return {name.lower() for name in (*self.described.values(), *self.undescribed)}

    def holds(self, source_name: str) -> bool:
        """Whether some table column was loaded from `source_name` (or, undescribed, carries
        its clean name): a listed column the source dropped is then drift, not a typo."""
        if source_name in self.described:
            return True
        if source_name.lower() in {s.lower() for s in self.described}:
            return True
        return sanitize_column_name(source_name) in {c.lower() for c in self.undescribed}


class AmbiguousColumn(ValueError):
    """Several source columns match one undescribed table column by name; nothing says which
    of them it holds."""

    def __init__(self, table_column: str, sources: list[str]) -> None:
        super().__init__(f"{sources} all match {table_column}")
        self.table_column = table_column
        self.sources = sources


def match_table_columns(names: Iterable[str], table: TableNames) -> dict[str, str]:
    """Source name → existing table column, for the `names` the table already holds.

    In this order: the exact source name a description records; else, for a described column
    whose source name is absent, the one source name equal to it but for case (export tools
    change header case); else, for a table column without such a description, the one source
    name that cleans up to its name. Two source names for one undescribed column raise
    `AmbiguousColumn`: guessing could swap their values."""
    wanted = list(dict.fromkeys(names))
    mapping = {name: table.described[name] for name in wanted if name in table.described}
    present = set(wanted)
    absent: dict[str, list[str]] = {}
    for source, column in table.described.items():
        if source not in present:
            absent.setdefault(source.lower(), []).append(column)
    waiting: dict[str, list[str]] = {}
    for name in wanted:
        if name not in mapping:
            waiting.setdefault(name.lower(), []).append(name)
    for folded, candidates in waiting.items():
        columns = absent.get(folded, [])
        if len(candidates) == 1 and len(columns) == 1:  # unique both ways, else it is new
            mapping[candidates[0]] = columns[0]
    undescribed = {column.lower(): column for column in table.undescribed}
    claims: dict[str, list[str]] = {}
    for name in wanted:
        claimed = undescribed.get(sanitize_column_name(name)) if name not in mapping else None
        if claimed is not None:
            claims.setdefault(claimed, []).append(name)
    for column, sources in claims.items():
        if len(sources) > 1:
            raise AmbiguousColumn(column, sorted(sources))
        mapping[sources[0]] = column
    return mapping


def _with_suffix(base: str, counter: int) -> str:
    suffix = f"_{counter}"
    return base[: MAX_COLUMN_NAME - len(suffix)] + suffix


def map_column_names(names: Iterable[str], taken: Iterable[str] = ()) -> dict[str, str]:
    """Source name → a new, unique BigQuery name, for all `names`; the result depends on the set
    of names, never on their order.

    `taken` are names already used (the table's columns, metadata columns) that no source column
    may receive. First each clean name goes to the first source name (in code-point order) that
    cleans up to it, if it is free; then the others, in that order, get the next free `_2`,
    `_3`, ... (so `a_2`, a source column of its own, keeps its name before `A` is numbered)."""
    # BigQuery column names are case-insensitive, hence the lower-case bookkeeping.
    used = {name.lower() for name in taken}
    ordered = sorted(set(names))
    bases = {name: sanitize_column_name(name) for name in ordered}
    mapping: dict[str, str] = {}
    for name in ordered:
        if bases[name] not in used:
            used.add(bases[name])
            mapping[name] = bases[name]
    for name in sorted(ordered, key=lambda n: (bases[n], n)):
        if name in mapping:
            continue
        counter = 2
        while _with_suffix(bases[name], counter) in used:
            counter += 1
        mapping[name] = _with_suffix(bases[name], counter)
        used.add(mapping[name])
    return mapping


def resolve_column_names(
    names: Iterable[str], table: TableNames | None = None, taken: Iterable[str] = ()
) -> dict[str, str]:
    """Source name → BigQuery name: the table's own column for each source column it holds
    (`match_table_columns`), a new name for the others (`map_column_names`), avoiding every
    column of the table and `taken`."""
    wanted = list(dict.fromkeys(names))
    table = table or TableNames()
    matched = match_table_columns(wanted, table)
    new = [name for name in wanted if name not in matched]
    derived = map_column_names(new, taken=[*taken, *table.columns, *matched.values()])
    return {name: matched.get(name) or derived[name] for name in wanted}
