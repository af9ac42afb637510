"""Where the fixed cost of a small `etl run` goes: imports, Prefect API, BigQuery and GCS calls.

The parent (`measure`) runs `etl run JOB --json` as a whole process, as a user does, under
`python -X importtime` with this module as its entry (`python -m bench.fixed_cost JOB`): the
child wraps the HTTP clients (httpx for the Prefect API, requests for Google's clients) to time
every call by service, runs the `etl` command, and at exit (after Prefect has drained its
queues) writes its timers to the file named by `ETL_BENCH_TIMERS`. The parent adds the import
time of the whole process from `-X importtime` (every top-level import, lazy ones included).

What the split means: seconds of HTTP calls are summed per service; Prefect's log and event
calls run in background threads and may overlap other work, so the parts can add up to more
than the wall time. "startup" is the interpreter's own start (wall time before this module ran);
"rest" is what no timer covers (the engine's own work, the source, waits between calls).
"""

from __future__ import annotations

import atexit
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

_started = time.perf_counter()
_epoch_started = time.time()
_calls: dict[str, list[float]] = defaultdict(list)
_extract: dict[str, float] = {}
_paths: dict[str, int] = defaultdict(int)
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f-]{27}")
_lock = threading.Lock()


def _service(url: str) -> str:
    prefect = os.environ.get("PREFECT_API_URL", "")
    if prefect and url.startswith(prefect):
        return "prefect"
    if "/bigquery/" in url:
        return "bigquery"
    if "/storage/v1/" in url or "/upload/storage/" in url or "/download/storage/" in url:
        return "gcs"
    return "other"


def _record(method: str, url: str, seconds: float) -> None:
    service = _service(url)
    path = _UUID.sub("{id}", url.split("?")[0].split("/", 3)[-1])
    with _lock:
        _calls[service].append(seconds)
        _paths[f"{service} {method} /{path}"] += 1


def _wrap_clients() -> None:
    import httpx
    import requests

    sync_send, async_send = httpx.Client.send, httpx.AsyncClient.send
    session_send = requests.Session.send

    def send(self: httpx.Client, request: httpx.Request, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return sync_send(self, request, *args, **kwargs)
        finally:
            _record(request.method, str(request.url), time.perf_counter() - start)

    async def asend(
        self: httpx.AsyncClient, request: httpx.Request, *args: Any, **kwargs: Any
    ) -> Any:
        start = time.perf_counter()
        try:
            return await async_send(self, request, *args, **kwargs)
        finally:
            _record(request.method, str(request.url), time.perf_counter() - start)

    def rsend(self: requests.Session, request: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return session_send(self, request, **kwargs)
        finally:
            _record(request.method, str(request.url), time.perf_counter() - start)

    httpx.Client.send = send  # type: ignore[method-assign]
    httpx.AsyncClient.send = asend  # type: ignore[method-assign]
    requests.Session.send = rsend  # type: ignore[method-assign]


def _time_extraction() -> None:
    """The CPU seconds of the whole process while the extract stage runs (reader, conforming,
    hashing, Parquet, upload threads): robust to a loaded machine, unlike wall seconds."""
    from etl_bigquery.engine.pipeline import extract

    original = extract.extract_to_staging

    def timed(*args: Any, **kwargs: Any) -> Any:
        cpu, wall = time.process_time(), time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            _extract["cpu"] = _extract.get("cpu", 0.0) + time.process_time() - cpu
            _extract["wall"] = _extract.get("wall", 0.0) + time.perf_counter() - wall

    extract.extract_to_staging = timed  # before the flow module imports it by name


def _write_timers(path: str) -> None:
    with _lock:
        calls = {k: {"count": len(v), "seconds": round(sum(v), 3)} for k, v in _calls.items()}
    Path(path).write_text(
        json.dumps(
            {
                "epoch_started": _epoch_started,
                "in_process": time.perf_counter() - _started,
                "calls": calls,
                "paths": dict(_paths),
                "extract": dict(_extract),
            }
        )
    )


def child_main() -> None:
    """`python -m bench.fixed_cost run JOB --json`: the `etl` command, timed."""
    path = os.environ.get("ETL_BENCH_TIMERS")
    if path:
        # Registered first, so it runs last: after Prefect's own exit handlers drained.
        atexit.register(_write_timers, path)
    _wrap_clients()
    _time_extraction()
    from etl_bigquery.cli.main import main

    sys.argv = ["etl", *sys.argv[1:]]
    main()


_IMPORT_LINE = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|( *)(\S+)")


def top_level_import_seconds(stderr: str) -> float:
    """The seconds every top-level import took, from `-X importtime` output (nested imports are
    inside their parent's cumulative time)."""
    total = 0
    for line in stderr.splitlines():
        match = _IMPORT_LINE.match(line)
        if match and len(match.group(3)) == 1:  # one space: a top-level import
            total += int(match.group(2))
    return total / 1e6


def measure(job: Path, cwd: Path) -> dict[str, Any]:
    """One timed `etl run JOB --json` process: wall, peak RSS and the split."""
    with tempfile.TemporaryDirectory() as folder:
        timers = Path(folder) / "timers.json"
        env = {**os.environ, "ETL_BENCH_TIMERS": str(timers), "ETL_PROGRESS": "0"}
        command = [
            sys.executable,
            "-X",
            "importtime",
            "-m",
            "bench.fixed_cost",
            "run",
            str(job),
            "--json",
        ]
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            started = time.time()
            process = subprocess.Popen(command, stdout=out, stderr=err, cwd=cwd, env=env)
            _, status, usage = os.wait4(process.pid, 0)
            wall = time.time() - started
            out.seek(0)
            err.seek(0)
            stdout, stderr = out.read(), err.read()
        if os.waitstatus_to_exitcode(status) != 0:
            sys.stderr.write(stdout + stderr[-4000:])
            raise SystemExit(f"the timed run of {job} failed")
        inside = json.loads(timers.read_text())
    report = json.loads(stdout)
    calls = inside["calls"]
    split = {
        "startup": max(0.0, inside["epoch_started"] - started),
        "imports": top_level_import_seconds(stderr),
        **{
            f"{name}_api": calls.get(name, {}).get("seconds", 0.0)
            for name in ("prefect", "bigquery", "gcs")
        },
    }
    split["rest"] = max(0.0, wall - sum(split.values()))
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "split": split,
        "calls": {
            name: calls.get(name, {}).get("count", 0) for name in ("prefect", "bigquery", "gcs")
        },
        "stages": {k: v.get("seconds") for k, v in (report.get("stages") or {}).items()},
        "rows_loaded": report.get("rows_loaded"),
        "extract_cpu": inside["extract"].get("cpu", 0.0),
        "report": report,
        "paths": inside["paths"],
    }


if __name__ == "__main__":
    child_main()
