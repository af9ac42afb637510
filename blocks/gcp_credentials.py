"""prefect-gcp's `GcpCredentials`, imported without Google's Vertex AI client.

`prefect_gcp`'s package imports its Vertex AI worker and, in `credentials`, the Vertex AI job
clients whenever `google-cloud-aiplatform` is installed (the `dataflow` extra brings it in through
`apache-beam[gcp]`). That import alone took about 2.4 s and 100 MB of every flow run, and this
product never uses Vertex AI. Both imports are guarded by prefect-gcp itself (`except
ModuleNotFoundError`), so while prefect-gcp is imported the Vertex AI modules are made to look
absent; afterwards they are importable again for anyone who does use them in the same process.
"""

from __future__ import annotations

import sys

# Importing any `google.cloud.aiplatform.*` module imports one of these packages first.
_VERTEX_PACKAGES = ("google.cloud.aiplatform", "google.cloud.aiplatform_v1")


def _import_prefect_gcp() -> None:
    if "prefect_gcp" in sys.modules:
        return
    hidden = [name for name in _VERTEX_PACKAGES if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # None: "not installed" to import
    try:
        import prefect_gcp  # noqa: F401
    finally:
        for name in hidden:
            if sys.modules.get(name, False) is None:
                del sys.modules[name]


_import_prefect_gcp()

from prefect_gcp import GcpCredentials  # noqa: E402

__all__ = ["GcpCredentials"]
