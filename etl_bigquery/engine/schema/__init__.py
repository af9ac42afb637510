"""Schema: BigQuery types, type mapping from sources, column names, detection."""
