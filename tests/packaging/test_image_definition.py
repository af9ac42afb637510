"""What the Cloud Run image holds, read from the Dockerfile (no Docker engine runs here): Prefect's
own image at the pinned version, the project's wheel and its constraints, and nothing else of the
checkout. The wheel itself is rehearsed in test_installed_wheel.py."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = (REPO / "Dockerfile").read_text(encoding="utf-8")


def _instructions(name: str) -> list[str]:
    return [line.split(None, 1)[1] for line in DOCKERFILE.splitlines() if line.startswith(name)]


def test_the_image_starts_from_prefects_image_at_the_pinned_version() -> None:
    (base,) = _instructions("FROM ")
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    (prefect,) = [d for d in dependencies if re.match(r"prefect==", d)]
    version = prefect.removeprefix("prefect==")
    assert base.startswith(f"prefecthq/prefect:{version}-python3.11"), base


def test_the_image_copies_only_the_wheel_and_its_constraints() -> None:
    sources = [copy.split()[0] for copy in _instructions("COPY ")]
    assert sorted(sources) == ["dist/*.whl", "requirements/constraints.txt"]
    assert "pip install" in DOCKERFILE and "/tmp/wheels/*.whl" in DOCKERFILE
    # Deployments on Cloud Run name a module of the installed package: no working directory of
    # the checkout is needed, and none is copied.
    assert not re.search(
        r"COPY\s+(flows|blocks|etl_bigquery|ui_extension|prefect\.yaml)", DOCKERFILE
    )
