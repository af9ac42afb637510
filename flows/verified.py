"""The last verification of each job (`etl verify` or the flow's verify task), kept in a Prefect
variable per job so the console shows a "verified" mark with its time without reading runs."""

from __future__ import annotations

import re
from typing import Any

from prefect.variables import Variable


def variable_name(job: str) -> str:
    return "etl_job_verified_" + re.sub(r"[^a-z0-9_]", "_", job.lower())


def record(job: str, summary: dict[str, Any]) -> None:
    Variable.set(variable_name(job), dict(summary), overwrite=True)


def last_verification(job: str) -> dict[str, Any] | None:
    value = Variable.get(variable_name(job), default=None)
    return value if isinstance(value, dict) and value else None
