"""Google's Firestore emulator, which ships with the Google Cloud CLI (it needs Java 17+).

Optional: `etl services up` leaves it out (it is a 200 MB Java process that only Firestore
sources need); `etl services up --only firestore` starts it, and a Firestore connection reaches
it with `endpoint_url: <host>:<port>`. The emulator's own launcher script is run directly, not
`gcloud emulators firestore start`, which adds gcloud's start-up and one more process. It keeps
its data in memory: stopping it forgets every document.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

SCRIPT = Path("platform/cloud-firestore-emulator/cloud_firestore_emulator")
INSTALL_HINT = (
    "install the Google Cloud CLI's Firestore emulator (`gcloud components install "
    "cloud-firestore-emulator`, or the apt package google-cloud-cli-firestore-emulator) and "
    "Java 17 or later"
)


class FirestoreEmulatorMissing(RuntimeError):
    """The emulator or Java is not installed; the message says what to install."""


def _sdk_roots() -> Iterator[Path]:
    """Where the Google Cloud CLI may be: beside the `gcloud` on PATH (a link into the SDK's
    bin/), else where `gcloud info` says (slower: it starts gcloud)."""
    gcloud = shutil.which("gcloud")
    if not gcloud:
        return
    yield Path(os.path.realpath(gcloud)).parent.parent
    try:
        answer = subprocess.run(
            [gcloud, "info", "--format=value(installation.sdk_root)"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return
    if answer.returncode == 0 and answer.stdout.strip():
        yield Path(answer.stdout.strip())


def emulator_command(host: str, port: int) -> list[str]:
    """The command that serves the emulator on host:port (HTTP `GET /` answers `Ok`)."""
    if not shutil.which(os.environ.get("JAVA", "java")):
        raise FirestoreEmulatorMissing(
            f"firestore cannot start: Java is not installed; {INSTALL_HINT}."
        )
    for root in _sdk_roots():
        script = root / SCRIPT
        if script.is_file():
            return [str(script), "--host", host, "--port", str(port)]
    raise FirestoreEmulatorMissing(
        f"firestore cannot start: the Firestore emulator is not installed; {INSTALL_HINT}."
    )
