"""The package Dataflow workers install: the engine (`engine`), nothing of Prefect.

Beam ships only what it is told to: the predecessor's workers failed with `ModuleNotFoundError`
because its own modules were never uploaded. `build_worker_package` writes an sdist of the
engine (readers, conformer, fingerprints, staging, the Beam DoFns) under the `etl_bigquery`
namespace, with the drivers the workers need pinned to the versions installed where the job is
submitted (what was tested is what the workers get), and the DataflowRunner options pass it as
`--extra_package`. It is built from the installed package, so a wheel builds it as a checkout
does. Flows, blocks, the service layer and the CLI (Prefect) stay out: workers never import them.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from importlib import metadata
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


# What workers of one source family import beyond those: the clients a file reader stats its
# objects with (S3, Azure), and BigQuery's Storage Read API client.
SOURCE_REQUIREMENTS: dict[str, tuple[str, ...]] = {
    "s3": ("boto3",),
    "azure_blob": ("azure-storage-blob",),
    "bigquery": ("google-cloud-bigquery-storage", "grpcio"),
}


ENGINE_DIR = Path(__file__).resolve().parents[1]
"""The installed `etl_bigquery/engine` folder (a checkout's, or site-packages')."""


def pinned_requirements(source_key: str | None = None) -> list[str]:
    """Each worker requirement (and those of `source_key`'s family) at the version installed
    here (unpinned if it is not)."""
    pins = []
    for name in (*WORKER_REQUIREMENTS, *SOURCE_REQUIREMENTS.get(source_key or "", ())):
        try:
            pins.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pins.append(name)
    return pins


WORKER_INIT = '"""etl-bigquery\'s engine, as Dataflow workers install it."""\n'

_SETUP = """from setuptools import find_packages, setup

setup(
    name={name!r},
    version={version!r},
    description="The etl-bigquery engine for Dataflow workers (no Prefect)",
    packages=find_packages(include=["etl_bigquery", "etl_bigquery.engine*"]),
    install_requires={requires!r},
    python_requires=">=3.11",
)
"""


def build_worker_package(
    out_dir: Path, version: str = "0.1.0", source_key: str | None = None
) -> Path:
    """Build the sdist into `out_dir` (with what `source_key`'s workers need); its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="etl-worker-pkg-") as folder:
        root = Path(folder)
        # Only the namespace's marker and the engine: the package's own __init__ imports
        # nothing, so the workers never need Prefect.
        (root / "etl_bigquery").mkdir()
        (root / "etl_bigquery" / "__init__.py").write_text(WORKER_INIT)
        shutil.copytree(
            ENGINE_DIR,
            root / "etl_bigquery" / "engine",
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )
        (root / "setup.py").write_text(
            _SETUP.format(
                name=WORKER_PACKAGE, version=version, requires=pinned_requirements(source_key)
            )
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
