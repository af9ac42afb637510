"""The package Dataflow workers install: the engine (`etl`), nothing of Prefect.

Beam ships only what it is told to: the predecessor's workers failed with `ModuleNotFoundError`
because its own modules were never uploaded. `build_worker_package` writes an sdist of the whole
`etl` package (readers, conformer, fingerprints, staging, the Beam DoFns) with the drivers the
workers need, pinned to this project's constraints, and the DataflowRunner options pass it as
`--extra_package`. `flows/`, `blocks/` and `cli/` (Prefect) stay out: workers never import them.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

WORKER_PACKAGE = "etl-bigquery-worker"
# What the workers import beyond the Beam SDK container (which has apache-beam, pyarrow, numpy).
WORKER_REQUIREMENTS = (
    "pyarrow",
    "numpy",
    "adbc-driver-manager",
    "adbc-driver-postgresql",
    "google-cloud-storage",
    "google-cloud-bigquery",
    "google-cloud-secret-manager",
    "pydantic",
    "sqlglot",
    "connectorx",
    "pymysql",
)


def project_root() -> Path:
    return Path(__file__).resolve().parents[2]


def pinned_requirements(constraints: Path | None = None) -> list[str]:
    """Each worker requirement at the exact version of requirements/constraints.txt."""
    path = constraints or project_root() / "requirements" / "constraints.txt"
    pins: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            match = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s;#]+)", line.strip())
            if match:
                pins[match.group(1).lower().replace("_", "-")] = match.group(2)
    return [f"{name}=={pins[name]}" if name in pins else name for name in WORKER_REQUIREMENTS]


_SETUP = """from setuptools import find_packages, setup

setup(
    name={name!r},
    version={version!r},
    description="The etl-bigquery engine for Dataflow workers (no Prefect)",
    packages=find_packages(include=["etl", "etl.*"]),
    install_requires={requires!r},
    python_requires=">=3.11",
)
"""


def build_worker_package(out_dir: Path, version: str = "0.1.0") -> Path:
    """Build the sdist into `out_dir`; returns its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="etl-worker-pkg-") as folder:
        root = Path(folder)
        shutil.copytree(
            project_root() / "etl",
            root / "etl",
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )
        (root / "setup.py").write_text(
            _SETUP.format(name=WORKER_PACKAGE, version=version, requires=pinned_requirements())
        )
        built = subprocess.run(
            [sys.executable, "setup.py", "-q", "sdist", "--formats=gztar", "--dist-dir",
             str(out_dir)],
            cwd=root, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if built.returncode != 0:
            raise RuntimeError(f"Building the worker package failed: {built.stderr[-500:]}")
    found = sorted(out_dir.glob("etl*bigquery*worker*.tar.gz"))
    if not found:
        raise RuntimeError(f"Building the worker package left no sdist in {out_dir}.")
    return found[-1]
