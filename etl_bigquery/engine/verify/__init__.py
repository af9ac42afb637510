"""`etl verify`: does the BigQuery table hold exactly the source's rows the job is responsible
for? Key ranges compared by row count (`counts`) or by the loads' row digests (`full`), the
differing ranges bisected down to the rows, each named by key. Read-only.

    scope.py    which rows and columns (by load type)
    sides.py    both sides as Arrow batches of the same types
    ranges.py   key ranges and their aggregates (numpy)
    compare.py  the passes, and the differences by key
    result.py   what was found
"""

from etl_bigquery.engine.verify.compare import verify_job
from etl_bigquery.engine.verify.result import RowDifference, VerifyResult
from etl_bigquery.engine.verify.scope import VerifyMode

__all__ = ["RowDifference", "VerifyMode", "VerifyResult", "verify_job"]
