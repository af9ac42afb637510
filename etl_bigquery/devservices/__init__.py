"""The local stand-ins for the cloud: BigQuery and GCS emulators and a Prefect server (and,
optionally, Google's Firestore emulator).

Used by `etl services up|down|status`, by `make demo` and by the test fixtures, so the demo and the
tests run against the same processes started the same way.
"""

from etl_bigquery.devservices.manager import Services, ServicesError, ServiceStatus

__all__ = ["ServiceStatus", "Services", "ServicesError"]
