"""Read the Terraform configuration in infra/terraform with python-hcl2, for structural tests.

No Terraform binary or provider can be installed where these tests run, so the tests read the
parsed HCL instead: expressions stay text ("${var.x}"), which is enough to follow references.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
from hcl2.utils import SerializationOptions

REPO_ROOT = Path(__file__).resolve().parents[2]
TERRAFORM_DIR = REPO_ROOT / "infra" / "terraform"
MODULES_DIR = TERRAFORM_DIR / "modules"
MODULE_NAMES = ("apis", "bigquery", "iam", "storage", "secrets", "scheduler", "worker")

_OPTIONS = SerializationOptions(
    strip_string_quotes=True, explicit_blocks=False, with_comments=False
)
_INTERPOLATION = re.compile(r"^\$\{(.*)\}$", re.DOTALL)
SKIP_COMMENT = re.compile(r"#\s*checkov:skip=(CKV2?_[A-Z]+_\d+):(.+)$", re.MULTILINE)


def parse_file(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        return hcl2.load(handle, serialization_options=_OPTIONS)


def text(value: Any) -> str:
    """An attribute value as searchable text (objects and lists as JSON)."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def expression(value: Any) -> str:
    """The expression inside a whole-value interpolation: "${var.x}" -> "var.x"."""
    match = _INTERPOLATION.match(value) if isinstance(value, str) else None
    return match.group(1) if match else text(value)


@dataclass
class TerraformModule:
    """The blocks of one directory of .tf files, keyed by their labels."""

    path: Path
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    resources: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    data: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    module_calls: dict[str, dict[str, Any]] = field(default_factory=dict)
    terraform_blocks: list[dict[str, Any]] = field(default_factory=list)
    providers: list[dict[str, Any]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return "root" if self.path == TERRAFORM_DIR else self.path.name

    def tf_files(self) -> list[Path]:
        return sorted(self.path.glob("*.tf"))

    def source_text(self) -> str:
        return "\n".join(p.read_text(encoding="utf-8") for p in self.tf_files())

    def skipped_checks(self) -> dict[str, str]:
        """Inline checkov skips: check ID -> reason."""
        return {m.group(1): m.group(2).strip() for m in SKIP_COMMENT.finditer(self.source_text())}

    def expand(self, value: Any, depth: int = 0) -> str:
        """Text of `value` with `local.x` references replaced by the locals' own text,
        so a reference through a local still shows what it points at."""
        result = text(value)
        if depth > 5:
            return result
        for name, local_value in self.locals.items():
            if re.search(rf"\blocal\.{name}\b", result):
                result += " " + self.expand(local_value, depth + 1)
        return result


@cache
def load_module(path: Path) -> TerraformModule:
    module = TerraformModule(path=path)
    for tf_file in sorted(path.glob("*.tf")):
        parsed = parse_file(tf_file)
        for block in parsed.get("variable", []):
            module.variables.update(block)
        for block in parsed.get("output", []):
            module.outputs.update(block)
        for block in parsed.get("locals", []):
            module.locals.update(block)
        for block in parsed.get("module", []):
            module.module_calls.update(block)
        for kind, target in (("resource", module.resources), ("data", module.data)):
            for block in parsed.get(kind, []):
                for rtype, by_name in block.items():
                    for rname, attrs in by_name.items():
                        target[(rtype, rname)] = attrs
        module.terraform_blocks.extend(parsed.get("terraform", []))
        module.providers.extend(parsed.get("provider", []))
    return module


def root() -> TerraformModule:
    return load_module(TERRAFORM_DIR)


def module(name: str) -> TerraformModule:
    return load_module(MODULES_DIR / name)


def all_modules() -> list[TerraformModule]:
    return [root(), *(module(name) for name in MODULE_NAMES)]


def required_providers(mod: TerraformModule) -> dict[str, Any]:
    providers: dict[str, Any] = {}
    for block in mod.terraform_blocks:
        for entry in block.get("required_providers", []):
            providers.update(entry)
    return providers


def required_version(mod: TerraformModule) -> str | None:
    for block in mod.terraform_blocks:
        if "required_version" in block:
            return block["required_version"]
    return None


def object_attribute_names(type_expression: str) -> set[str]:
    """Attribute names of the innermost object(...) in a variable's type expression."""
    inner = type_expression[type_expression.rindex("object(") :]
    return set(re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*=", inner))
