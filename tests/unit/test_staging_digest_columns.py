"""Staged Parquet: digest columns (random hex) are written uncompressed, every other column with
snappy (engine.staging): snappy spent more time on them than on all other columns together."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from etl_bigquery.engine.staging import ParquetStager


def test_digest_columns_are_stored_uncompressed_and_the_rest_with_snappy(tmp_path):
    batch = pa.record_batch(
        {
            "id": pa.array(range(1000), pa.int64()),
            "name": pa.array([f"customer {i % 7}" for i in range(1000)]),
            "_etl_row_hash": pa.array([f"{i:032x}" for i in range(1000)]),
            "_etl_row_version": pa.array([f"{i * 7:032x}" for i in range(1000)]),
        }
    )
    stager = ParquetStager(f"file://{tmp_path}", "run-1", batch.schema)
    stager.write(batch)
    staged = stager.finish()
    assert staged.rows == 1000
    path = staged.uris[0].removeprefix("file://")
    assert pq.read_table(path).equals(pa.Table.from_batches([batch]))
    group = pq.ParquetFile(path).metadata.row_group(0)
    codecs = {group.column(i).path_in_schema: group.column(i).compression for i in range(4)}
    assert codecs == {
        "id": "SNAPPY", "name": "SNAPPY",
        "_etl_row_hash": "UNCOMPRESSED", "_etl_row_version": "UNCOMPRESSED",
    }  # fmt: skip
