"""What a verify found: figures, ranges, and the differing rows named by key."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

MISSING = "missing"
"""In the source, not in BigQuery (or fewer copies in BigQuery)."""
EXTRA = "extra"
"""In BigQuery, not in the source."""
DUPLICATE = "duplicate"
"""The same row held more times in BigQuery than the source has it."""
DIFFERING = "differing"
"""Same key on both sides, different content."""
KINDS = (MISSING, EXTRA, DUPLICATE, DIFFERING)
_WORDS = {MISSING: "missing", EXTRA: "extra", DUPLICATE: "duplicated", DIFFERING: "differing"}
SHOWN = 20


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, int | float | str | bool) or value is None:
        return value
    return str(value)


@dataclass
class RowDifference:
    kind: str
    key: dict[str, Any]
    source_copies: int
    bigquery_copies: int
    columns: list[str] = field(default_factory=list)
    """Differing rows: the compared columns whose values differ."""

    def describe(self) -> str:
        key = ", ".join(f"{k}={v}" for k, v in self.key.items())
        if self.kind == DIFFERING:
            cols = f" in {', '.join(self.columns)}" if self.columns else ""
            return f"{key}: differs{cols}"
        if self.kind == DUPLICATE:
            return (
                f"{key}: {self.bigquery_copies} copies in BigQuery, "
                f"{self.source_copies} in the source"
            )
        if self.kind == MISSING:
            return f"{key}: missing in BigQuery" + (
                f" ({self.bigquery_copies} of {self.source_copies} copies there)"
                if self.bigquery_copies
                else ""
            )
        return f"{key}: in BigQuery only"


@dataclass
class VerifyResult:
    job: str
    table: str
    mode: str
    scope: str
    keys: list[str]
    key_source: str
    compared_columns: list[str]
    source_rows: int = 0
    bigquery_rows: int = 0
    source_rejected: int = 0
    not_loaded_yet: int = 0
    ranges: int = 0
    ranges_equal: int = 0
    ranges_differing: int = 0
    passes: int = 0
    differences: list[RowDifference] = field(default_factory=list)
    truncated: bool = False
    """More differing rows than were collected: the figures per kind are lower bounds."""
    notes: list[str] = field(default_factory=list)
    checked_at: str = ""
    seconds: float = 0.0

    @property
    def equal(self) -> bool:
        return not self.differences and not self.truncated and self.ranges_differing == 0

    def counts(self) -> dict[str, int]:
        found = dict.fromkeys(KINDS, 0)
        for diff in self.differences:
            found[diff.kind] += 1
        return found

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["equal"] = self.equal
        data["counts"] = self.counts()
        data["differences"] = [
            {**asdict(d), "key": {k: _plain(v) for k, v in d.key.items()}} for d in self.differences
        ]
        return data

    def summary(self) -> dict[str, Any]:
        """The figures without the row list (artifacts, run reports, the console)."""
        return {
            "equal": self.equal,
            "mode": self.mode,
            "checked_at": self.checked_at,
            "source_rows": self.source_rows,
            "bigquery_rows": self.bigquery_rows,
            **self.counts(),
            "ranges": self.ranges,
            "ranges_differing": self.ranges_differing,
            "truncated": self.truncated,
        }

    def text(self, shown: int = SHOWN) -> str:
        lines = [
            f"{self.job}: {'EQUAL' if self.equal else 'DIFFERENT'} ({self.mode}) {self.table}",
            f"  scope: {self.scope}",
            f"  key: {', '.join(self.keys)} ({self.key_source})",
            f"  rows: {self.source_rows:,} in the source, {self.bigquery_rows:,} in BigQuery"
            + (f"; {self.source_rejected:,} malformed in the source" * bool(self.source_rejected))
            + (f"; {self.not_loaded_yet:,} newer than the watermark" * bool(self.not_loaded_yet)),
            f"  key ranges: {self.ranges:,}, {self.ranges_equal:,} equal, "
            f"{self.ranges_differing:,} differing ({self.passes} pass{'es' * (self.passes != 1)})",
        ]
        counts = self.counts()
        if self.differences or self.truncated:
            lines.append(
                "  differences: "
                + ", ".join(f"{n:,} {_WORDS[kind]}" for kind, n in counts.items())
                + (" (more not listed)" if self.truncated else "")
            )
        for diff in self.differences[:shown]:
            lines.append(f"    {diff.kind:<9} {diff.describe()}")
        if len(self.differences) > shown:
            lines.append(f"    ... {len(self.differences) - shown:,} more (--json lists them all)")
        for note in self.notes:
            lines.append(f"  note: {note}")
        lines.append(f"  checked at {self.checked_at} in {self.seconds:.1f}s")
        return "\n".join(lines)
