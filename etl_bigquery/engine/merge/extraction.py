"""What the extraction of a merge or history run adds to the standard one: the keyed filter
(`engine.merge.keyed_filter`), the table clock as every staged row's `_etl_loaded_at`, and, once
the increment is staged, the key read of a due delete check (`engine.merge.deletes`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa

from etl_bigquery.engine.merge.deletes import read_keys
from etl_bigquery.engine.merge.keyed_filter import KeyedClaim, staged_schema, went_back_warning
from etl_bigquery.engine.merge.strategy import KeyedPlanned, KeyedStrategy

if TYPE_CHECKING:
    from etl_bigquery.engine.pipeline.context import Extracted, LoadTarget, RunContext


@dataclass
class KeyedExtraction:
    claim: KeyedClaim
    stamp: dt.datetime

    def schema(self, conformed: pa.Schema) -> pa.Schema:
        return staged_schema(conformed)

    def finish(self, ctx: RunContext, target: LoadTarget, result: Extracted, run_path: str) -> None:
        warning = went_back_warning(
            self.claim.went_back, self.claim.went_back_example, self.claim.cursor
        )
        if warning:
            result.warnings.append(warning)
        planned = target.planned
        if isinstance(planned, KeyedPlanned) and planned.deletes is not None:
            # Only now: every version this run stages was read before `checked_at`.
            result.deletes = read_keys(ctx, target, run_path, self.stamp)


def keyed_extraction(target: LoadTarget) -> KeyedExtraction | None:
    strategy, planned = target.strategy, target.planned
    if not isinstance(strategy, KeyedStrategy) or not isinstance(planned, KeyedPlanned):
        return None
    assert planned.stamp is not None
    return KeyedExtraction(KeyedClaim(strategy.keyed_filter(planned)), planned.stamp)
