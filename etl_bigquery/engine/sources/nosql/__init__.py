"""NoSQL sources (family `documents`): Firestore, MongoDB, DynamoDB, Redis, Cassandra.

Each is a reader behind the same core as the relational ones (`engine.sources.base.SourceReader`),
so jobs, strategies and the exactly-once protocol do not change: a collection (table, key prefix)
is the job's `source: {schema, table}`. `engine.sources.nosql.documents` holds what they share:
the schema from a sample of documents, the `document` type names, and Arrow batches built from
Python values by each column's BigQuery type.
"""
