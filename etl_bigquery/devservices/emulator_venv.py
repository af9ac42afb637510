"""The emulators' own virtualenv (Python 3.13; its numpy pin clashes with apache-beam's).

A checkout gets it from `make setup` (`.venv-emulators`); an installed package creates it the
first time `etl services up` needs it, from the requirements shipped with the package
(`etl_bigquery/resources/emulators.txt`), so a wheel in an empty folder can run the demo too.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from etl_bigquery.resources import resource_path

PYTHON_VERSION = "3.13"


class EmulatorVenvError(RuntimeError):
    """The emulators' virtualenv could not be made; the message says what to do."""


def find_python(version: str = PYTHON_VERSION) -> str | None:
    """An interpreter of `version` that runs: pyenv's versions first (these machines install
    3.13 there), then `python3.13` on PATH."""
    candidates: list[str] = []
    pyenv_root = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    candidates += sorted(glob.glob(f"{pyenv_root}/versions/{version}*/bin/python{version}"))
    on_path = shutil.which(f"python{version}")
    if on_path:
        candidates.append(on_path)
    for candidate in candidates:
        wanted = version.replace(".", ",")
        check = f"import sys; assert sys.version_info[:2] == ({wanted})"
        probe = subprocess.run([candidate, "-c", check], capture_output=True, check=False)
        if probe.returncode == 0:
            return candidate
    return None


def ensure_emulator_venv(venv: Path, echo: Callable[[str], None] = print) -> None:
    """Create `venv` with the emulators installed, unless it already has its interpreter."""
    if (venv / "bin" / "python").exists():
        return
    python = find_python()
    if python is None:
        raise EmulatorVenvError(
            f"The local emulators need Python {PYTHON_VERSION}, which was not found (pyenv or "
            f"python{PYTHON_VERSION} on PATH); install it, then run `etl services up` again."
        )
    echo(f"Creating the emulators' virtualenv in {venv} (Python {PYTHON_VERSION}, once)...")
    venv.parent.mkdir(parents=True, exist_ok=True)
    steps = [
        [python, "-m", "venv", str(venv)],
        [str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check",
         "-r", str(resource_path("emulators.txt"))],
    ]  # fmt: skip
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            shutil.rmtree(venv, ignore_errors=True)  # never leave a half-made venv behind
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise EmulatorVenvError(
                f"Creating the emulators' virtualenv failed ({tail[0]}); see pip's output by "
                f"running: {' '.join(step)}"
            )
