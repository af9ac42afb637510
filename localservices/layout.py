"""Where the local services keep their state, and on which ports they listen."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

# The emulators need Python 3.13 and a numpy that conflicts with apache-beam, so they live in a
# virtualenv of their own beside the project's (ENVIRONMENT.md). The Makefile creates it.
EMULATOR_VENV_NAME = ".venv-emulators"


def project_root() -> Path:
    """The repository root: the folder holding pyproject.toml above this package."""
    return Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Ports:
    prefect: int = 4200
    bigquery: int = 9050
    bigquery_grpc: int = 9060
    gcs: int = 4443


@dataclass(frozen=True)
class Layout:
    """Folders and ports of one set of local services.

    `make demo` uses the defaults (`.etl/` in the repository, well-known ports); the tests use a
    temporary folder and free ports so they never disturb services a developer left running.
    """

    state_dir: Path
    ports: Ports = field(default_factory=Ports)
    host: str = "127.0.0.1"
    emulator_venv: Path = field(default_factory=lambda: project_root() / EMULATOR_VENV_NAME)

    @classmethod
    def default(cls) -> Layout:
        """`.etl/` in the repository (or ETL_STATE_DIR), with the ports the services were last
        started on there."""
        # ETL_STATE_DIR says where the services live, not how the product behaves.
        state = Path(os.environ.get("ETL_STATE_DIR", project_root() / ".etl"))
        return cls(state_dir=state, ports=cls.saved_ports(state) or Ports())

    @staticmethod
    def saved_ports(state_dir: Path) -> Ports | None:
        try:
            return Ports(**json.loads((state_dir / "ports.json").read_text()))
        except (FileNotFoundError, ValueError, TypeError):
            return None

    def save_ports(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        (self.state_dir / "ports.json").write_text(json.dumps(asdict(self.ports)))

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def run_dir(self) -> Path:
        return self.state_dir / "run"

    @property
    def data_dir(self) -> Path:
        return self.state_dir / "data"

    @property
    def env_file(self) -> Path:
        """Endpoints of the running services, read by the `etl` command when present."""
        return self.state_dir / "services.env"

    @property
    def prefect_api_url(self) -> str:
        return f"http://{self.host}:{self.ports.prefect}/api"

    @property
    def bigquery_endpoint(self) -> str:
        return f"http://{self.host}:{self.ports.bigquery}"

    @property
    def gcs_endpoint(self) -> str:
        return f"http://{self.host}:{self.ports.gcs}"

    @property
    def emulator_python(self) -> Path:
        return self.emulator_venv / "bin" / "python"

    @property
    def main_bin(self) -> Path:
        """The bin folder of the virtualenv this code runs in (where `prefect` lives)."""
        return Path(sys.executable).parent
