"""Where the local services keep their state, and on which ports they listen."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

# The emulators need Python 3.13 and a numpy that conflicts with apache-beam, so they live in a
# virtualenv of their own (ENVIRONMENT.md): `.venv-emulators` in the project folder (`make setup`
# creates it in a checkout), else `<state>/emulators-venv`, which `etl services up` creates.
EMULATOR_VENV_NAME = ".venv-emulators"
STATE_DIR_NAME = ".etl"
PROJECT_MARKERS = (STATE_DIR_NAME, "prefect.yaml")


def project_root(start: Path | None = None) -> Path:
    """The project folder the local services belong to: the nearest folder, from `start` (the
    current directory) upwards, that holds `.etl/` or `prefect.yaml`; else `start` itself. Never
    the installed package's location: a wheel in site-packages has no project."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if any((folder / marker).exists() for marker in PROJECT_MARKERS):
            return folder
    return here


def default_emulator_venv(project: Path, state_dir: Path) -> Path:
    # ETL_EMULATOR_VENV says where an existing emulators' virtualenv is (a place, like
    # ETL_STATE_DIR), e.g. a checkout's `.venv-emulators` for an installed product.
    if os.environ.get("ETL_EMULATOR_VENV"):
        return Path(os.environ["ETL_EMULATOR_VENV"])
    beside = project / EMULATOR_VENV_NAME
    return beside if beside.exists() else state_dir / "emulators-venv"


@dataclass(frozen=True)
class Ports:
    prefect: int = 4200
    bigquery: int = 9050
    bigquery_grpc: int = 9060
    gcs: int = 4443
    firestore: int = 8086
    """Google's Firestore emulator: optional, started only by `etl services up --only firestore`."""


@dataclass(frozen=True)
class Layout:
    """Folders and ports of one set of local services.

    `make demo` uses the defaults (`.etl/` in the repository, well-known ports); the tests use a
    temporary folder and free ports so they never disturb services a developer left running.
    """

    state_dir: Path
    ports: Ports = field(default_factory=Ports)
    host: str = "127.0.0.1"
    emulator_venv: Path | None = None
    """None: `.venv-emulators` in the project, else `<state>/emulators-venv`."""

    def __post_init__(self) -> None:
        if self.emulator_venv is None:
            venv = default_emulator_venv(project_root(), self.state_dir)
            object.__setattr__(self, "emulator_venv", venv)

    @classmethod
    def default(cls) -> Layout:
        """`.etl/` in the project folder (or ETL_STATE_DIR), with the ports the services were
        last started on there."""
        # ETL_STATE_DIR says where the services live, not how the product behaves.
        state = Path(os.environ.get("ETL_STATE_DIR", project_root() / STATE_DIR_NAME))
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
    def firestore_endpoint(self) -> str:
        """What a Firestore connection's endpoint_url names (host:port, plain gRPC)."""
        return f"{self.host}:{self.ports.firestore}"

    @property
    def emulator_python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def venv(self) -> Path:
        assert self.emulator_venv is not None  # set by __post_init__
        return self.emulator_venv

    @property
    def main_bin(self) -> Path:
        """The bin folder of the virtualenv this code runs in (where `prefect` lives)."""
        return Path(sys.executable).parent
