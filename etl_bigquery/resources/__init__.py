"""Files the product ships beside its code (package data): block logos, the default
automations, the Cloud Run v2 work pool template, the emulators' requirements and the Terraform
configuration. Found through the installed package, never through a checkout, so a wheel in an
empty virtualenv has all of them."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def resource_path(*parts: str) -> Path:
    """A shipped file or folder, as a filesystem path (the package is installed unzipped)."""
    return Path(str(resources.files(__name__).joinpath(*parts)))


def terraform_dir() -> Path:
    """The Terraform root configuration shipped with the package (`resources/terraform` links
    to the repository's `infra/terraform`; the wheel holds a copy)."""
    return resource_path("terraform").resolve()
