"""The one-way rule of the layout (README, "Layout"), checked on every import of the package:

    cli, ui_extension  →  service  →  flows, blocks  →  engine

A layer imports only the layers below it (and itself). `flows` may use `blocks` (a run loads its
connection), never the other way round. `engine` imports nothing of the product, so Beam workers
can run it without Prefect. `devservices` (local emulators, development tooling) and `resources`
(shipped files) depend on nothing of the product; only the CLI starts the local services, and
the CLI may start the console. Imports inside functions count as much as those at the top.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import etl_bigquery

PACKAGE = Path(etl_bigquery.__file__).resolve().parent
REPO = PACKAGE.parent
# Where each layer's files are in the repository (the card's folders are mapped under the
# namespace at install time; pyproject.toml [tool.setuptools.package-dir]).
LAYER_FOLDERS = {
    "engine": PACKAGE / "engine",
    "blocks": REPO / "blocks",
    "flows": REPO / "flows",
    "service": PACKAGE / "service",
    "cli": PACKAGE / "cli",
    "ui_extension": REPO / "ui_extension",
    "devservices": PACKAGE / "devservices",
    "resources": PACKAGE / "resources",
}
ALLOWED = {
    "engine": {"engine"},
    "blocks": {"blocks", "engine"},
    "flows": {"flows", "blocks", "engine"},
    "service": {"service", "flows", "blocks", "engine", "resources"},
    "ui_extension": {"ui_extension", "service", "flows", "blocks", "engine"},
    "cli": {
        "cli",
        "service",
        "flows",
        "blocks",
        "engine",
        "devservices",
        "ui_extension",
        "resources",
    },
    "devservices": {"devservices", "resources"},
    "resources": {"resources"},
}


def _imported_layers(path: Path) -> list[tuple[int, str]]:
    """(line, layer) of every `etl_bigquery.<layer>` import in the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "etl_bigquery" and len(parts) > 1 and parts[1] in LAYER_FOLDERS:
                found.append((node.lineno, parts[1]))
    return found


def _files(layer: str) -> list[Path]:
    return sorted(LAYER_FOLDERS[layer].rglob("*.py"))


@pytest.mark.parametrize("layer", sorted(LAYER_FOLDERS))
def test_a_layer_imports_only_the_layers_below_it(layer: str) -> None:
    wrong = [
        f"{path.relative_to(REPO)}:{line} imports etl_bigquery.{target}"
        for path in _files(layer)
        for line, target in _imported_layers(path)
        if target not in ALLOWED[layer]
    ]
    assert not wrong, f"{layer} may import only {sorted(ALLOWED[layer])}:\n" + "\n".join(wrong)


def test_no_module_imports_the_old_top_level_names() -> None:
    """`etl`, `cli`, `flows`, `blocks`, `localservices`, `ui_extension` are not installed: an
    import of one would work in a checkout only (the folder is on sys.path) and break in the
    wheel."""
    old = {"etl", "cli", "flows", "blocks", "localservices", "ui_extension"}
    wrong = []
    for layer in LAYER_FOLDERS:
        for path in _files(layer):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0:
                    names = [node.module or ""]
                else:
                    continue
                wrong += [f"{path.relative_to(REPO)}:{node.lineno} imports {n}"
                          for n in names if n.split(".")[0] in old]  # fmt: skip
    assert not wrong, "\n".join(wrong)


def test_every_layer_folder_is_covered() -> None:
    """A new folder under the package must be given a layer here (and in the README)."""
    folders = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert folders <= set(LAYER_FOLDERS)
