"""prefect-gcp's `GcpCredentials`, imported without the rest of prefect-gcp.

The only thing this product uses from prefect-gcp is its credentials block, but the package's
`__init__` imports all of it: its BigQuery and Cloud Storage blocks, Secret Manager, and its
Vertex AI and Cloud Run workers (with Prefect's worker machinery). Measured on this 2-core
machine, that import cost 1.1 s of CPU and 32 MB of every `etl` process, against 0.3 s and 4 MB
for `prefect_gcp.credentials` alone. So the package is registered without running its
`__init__`, and only `prefect_gcp.credentials` is imported; the first time anyone asks the
package for anything else (`from prefect_gcp import GcsBucket`, a worker in the same process),
its `__init__` runs then, so nothing that uses prefect-gcp fully is broken by this.

`credentials` also imports the Vertex AI job clients whenever `google-cloud-aiplatform` is
installed (the `dataflow` extra brings it in through `apache-beam[gcp]`): about 2.4 s and 100 MB,
for a service this product never uses. prefect-gcp guards that import (`except
ModuleNotFoundError`), so while it runs the Vertex AI modules are made to look absent;
afterwards they are importable again for anyone who does use them in the same process.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

# Importing any `google.cloud.aiplatform.*` module imports one of these packages first.
_VERTEX_PACKAGES = ("google.cloud.aiplatform", "google.cloud.aiplatform_v1")


@contextmanager
def _vertex_hidden() -> Iterator[None]:
    hidden = [name for name in _VERTEX_PACKAGES if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # None: "not installed" to import
    try:
        yield
    finally:
        for name in hidden:
            if sys.modules.get(name, False) is None:
                del sys.modules[name]


def _package_on_demand() -> ModuleType:
    """`prefect_gcp` registered but not executed: its `__init__` runs on first attribute use."""
    spec = importlib.util.find_spec("prefect_gcp")
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError("prefect-gcp is not installed", name="prefect_gcp")
    package = importlib.util.module_from_spec(spec)
    loader = spec.loader

    def complete(name: str) -> object:
        # Not found among what is imported so far: run the package's own __init__ now (once).
        package.__dict__.pop("__getattr__", None)
        with _vertex_hidden():
            loader.exec_module(package)
        try:
            return package.__dict__[name]
        except KeyError:
            raise AttributeError(f"module 'prefect_gcp' has no attribute {name!r}") from None

    package.__getattr__ = complete  # type: ignore[method-assign]  # PEP 562 module __getattr__
    return package


def _import_credentials() -> None:
    if "prefect_gcp" not in sys.modules:
        package = sys.modules["prefect_gcp"] = _package_on_demand()
        # Prefect versions a block's schema by its package's `__version__`.
        package.__dict__["__version__"] = importlib.import_module(
            "prefect_gcp._version"
        ).__version__
    with _vertex_hidden():
        importlib.import_module("prefect_gcp.credentials")


_import_credentials()

from prefect_gcp.credentials import GcpCredentials  # noqa: E402

__all__ = ["GcpCredentials"]
