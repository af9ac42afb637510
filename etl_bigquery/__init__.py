"""etl-bigquery: copy databases, object stores and NoSQL stores into BigQuery, on Prefect.

Layers (one-way; tests/unit/test_import_graph.py checks it):
    cli, ui_extension  →  service  →  flows, blocks  →  engine
`engine` imports none of the others and needs no Prefect (Beam workers run it alone).
"""

__version__ = "0.2.0"
