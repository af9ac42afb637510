"""The BigQuery side: clients, tables, incremental state and load jobs."""
