"""The wheel holds the whole product under one name: pyproject.toml lists every package, and
each folder of the design card is installed under the namespace."""

from __future__ import annotations

import tomllib
from pathlib import Path

import etl_bigquery

REPO = Path(etl_bigquery.__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]


def _packages_in_tree() -> set[str]:
    found = set()
    roots = {"etl_bigquery": REPO / "etl_bigquery"}
    roots |= {name: REPO / folder for name, folder in SETUPTOOLS["package-dir"].items()}
    for name, root in roots.items():
        for init in root.rglob("__init__.py"):
            relative = init.parent.relative_to(root)
            found.add(".".join([name, *relative.parts]))
    # a mapped folder inside etl_bigquery/ would be found twice; none is
    return found


def test_pyproject_lists_every_package_of_the_tree() -> None:
    assert set(SETUPTOOLS["packages"]) == _packages_in_tree()


def test_the_only_installed_top_level_name_is_the_namespace() -> None:
    assert {name.split(".")[0] for name in SETUPTOOLS["packages"]} == {"etl_bigquery"}


def test_the_card_folders_stay_at_the_top_of_the_repository() -> None:
    for folder in ("flows", "blocks", "ui_extension", "infra/terraform", "tests"):
        assert (REPO / folder).is_dir(), folder
    assert set(SETUPTOOLS["package-dir"].values()) == {"flows", "blocks", "ui_extension"}


def test_the_command_is_installed_from_the_namespace() -> None:
    assert PYPROJECT["project"]["scripts"] == {"etl": "etl_bigquery.cli.main:main"}
