"""A BigQuery read split into units: the streams of one Storage Read API session.

The session is created where the read is planned (the flow's process); BigQuery fixes there, once,
the snapshot of the table, the columns (`selected_fields`) and the cursor predicate
(`row_restriction`), and hands out N streams that together hold every row exactly once. A unit is
one stream's name (`ReadStream`), which any reader of the same connection reads with `ReadRows`
(a Beam worker, a thread of standard mode's parallel read): nothing is scanned twice, and no
range of a key is computed here. BigQuery may give fewer streams than asked (real BigQuery: by
the table's size and its own load; the local emulator: one stream per 100,000 rows). A session
expires after six hours at least: an extraction that takes longer fails with BigQuery's
sentence, and the retry plans a new session.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from etl_bigquery.engine.sources.base import ReadPlan, ReadStream


def stream_units(plan: ReadPlan, session: Any) -> list[ReadPlan]:
    """One unit per stream of `session` (one stream is one unit: a query's result is not run
    again); [plan] when it has none (no row to read)."""
    streams = list(session.streams)
    if not streams:
        return [plan]
    schema = bytes(session.arrow_schema.serialized_schema)
    return [
        replace(plan, unit=ReadStream(session.name, stream.name, index, len(streams), schema))
        for index, stream in enumerate(streams)
    ]
