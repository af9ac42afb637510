"""Check every resource, data source and provider block of infra/terraform against the Google
provider's schema, offline.

`terraform validate` is what finds a misspelt or removed argument, but it needs the provider
binary, which cannot be downloaded here. The schema itself is committed instead, extracted from
prebuilt CDK bindings of the provider (tests/infra/extract_provider_schema.py writes one JSON file
per provider version into provider_schemas/). A module is checked against every extract whose
version its `required_providers` constraint admits.

What is checked, per resource, data source (also inside `check` blocks) and provider block: the
type exists; every argument and nested block is in the schema (meta-arguments, `lifecycle`,
provisioners, `dynamic` blocks and their `content` handled as Terraform does); an argument is
not written as a block or the reverse; a block the schema allows once appears once; required
arguments and blocks are present; keys of object literals given to object-typed arguments
exist; a literal string given to an enum argument is one of the values the provider lists for
it. Per module: every TYPE.NAME.ATTRIBUTE an expression reads names a declared block and an
attribute its type exports (computed ones included).

What is not: value types; values computed from variables; the provider's own validation beyond
listed enums (regexes, ConflictsWith, ExactlyOneOf); required keys of object-typed arguments;
attribute paths below the first level of a reference and in `ignore_changes`; module call
arguments (test_terraform_structure.py covers those); ephemeral resources (not in the bindings).

The HCL is read as python-hcl2's syntax tree (not its dict form) because findings need lines.
"""

from __future__ import annotations

import difflib
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
from lark import Token, Tree

from .tfconfig import load_module, required_providers

SCHEMA_DIR = Path(__file__).resolve().parent / "provider_schemas"

# Meta-arguments Terraform itself handles in resource and data blocks (not the provider).
META_ARGUMENTS = {"count", "for_each", "depends_on", "provider"}
META_BLOCKS = {"resource": {"lifecycle", "provisioner", "connection"}, "data": {"lifecycle"}}
CONDITION: dict[str, Any] = {"arguments": {"condition": "required", "error_message": "required"}}
LIFECYCLE: dict[str, dict[str, Any]] = {
    "resource": {
        "arguments": {
            "create_before_destroy": "optional",
            "prevent_destroy": "optional",
            "ignore_changes": "optional",
            "replace_triggered_by": "optional",
        },
        "blocks": {"precondition": CONDITION, "postcondition": CONDITION},
    },
    "data": {"arguments": {}, "blocks": {"precondition": CONDITION, "postcondition": CONDITION}},
}
DYNAMIC_ARGUMENTS = {"for_each", "iterator", "labels"}
PROVIDER_META_ARGUMENTS = {"alias"}


@dataclass(frozen=True)
class ProviderSchema:
    version: str
    package: str
    path: Path
    provider: dict[str, Any] = field(repr=False)
    resources: dict[str, Any] = field(repr=False)
    data_sources: dict[str, Any] = field(repr=False)

    def types(self, kind: str) -> dict[str, Any]:
        return self.resources if kind == "resource" else self.data_sources


@cache
def schemas() -> tuple[ProviderSchema, ...]:
    found = []
    for path in sorted(SCHEMA_DIR.glob("google-*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        found.append(
            ProviderSchema(
                version=document["provider_version"],
                package=document["source"]["package"],
                path=path,
                provider=document["provider_config"],
                resources=document["resources"],
                data_sources=document["data_sources"],
            )
        )
    return tuple(sorted(found, key=lambda s: version_key(s.version)))


# --- version constraints ------------------------------------------------------------------------

_CONSTRAINT = re.compile(r"^\s*(~>|>=|<=|!=|=|>|<)?\s*v?(\d+(?:\.\d+){0,2})\s*$")


def version_key(version: str) -> tuple[int, int, int]:
    major, minor, patch = ([int(p) for p in version.split(".")] + [0, 0, 0])[:3]
    return major, minor, patch


def satisfies(version: str, constraint: str) -> bool:
    """Whether `version` meets a Terraform version constraint ("~> 7.0", ">= 6.14, < 8.0")."""
    have = version_key(version)
    for part in constraint.split(","):
        match = _CONSTRAINT.match(part)
        if not match:
            raise ValueError(f"cannot read the version constraint {constraint!r}")
        operator, bound = match.group(1) or "=", match.group(2)
        want = version_key(bound)
        if operator == "~>":
            # Only the rightmost given component may grow: ~> 7.0 is >= 7.0, < 8.0; ~> 7.0.1 is
            # >= 7.0.1, < 7.1.0.
            given = bound.split(".")
            keep = max(len(given) - 1, 1)
            ceiling = tuple([*want[: keep - 1], want[keep - 1] + 1, 0, 0][:3])
            ok = want <= have < ceiling
        else:
            ok = {
                "=": have == want,
                "!=": have != want,
                ">": have > want,
                ">=": have >= want,
                "<": have < want,
                "<=": have <= want,
            }[operator]
        if not ok:
            return False
    return True


def lower_bound(constraint: str) -> str | None:
    """The least version a constraint admits, as written (">= 6.14, < 8.0" -> "6.14")."""
    for part in constraint.split(","):
        match = _CONSTRAINT.match(part)
        if match and match.group(1) in ("~>", ">=", "=", None):
            return match.group(2)
    return None


def google_constraint(module_dir: Path) -> str | None:
    google = required_providers(load_module(module_dir)).get("google")
    return google.get("version") if google else None


def schemas_for(module_dir: Path) -> list[ProviderSchema]:
    constraint = google_constraint(module_dir)
    return [s for s in schemas() if constraint and satisfies(s.version, constraint)]


# --- reading HCL with lines ---------------------------------------------------------------------


@dataclass
class Node:
    kind: str  # "attribute" or "block"
    name: str
    line: int
    labels: list[str] = field(default_factory=list)
    body: list[Node] = field(default_factory=list)
    value: Tree | None = None


def _text(tree: Tree | Token) -> str:
    if isinstance(tree, Token):
        return str(tree)
    return "".join(str(t) for t in tree.scan_values(lambda v: isinstance(v, Token))).strip('"')


def _read_body(body: Tree) -> list[Node]:
    nodes = []
    for child in body.children:
        if not isinstance(child, Tree):
            continue
        if child.data == "attribute":
            nodes.append(
                Node(
                    "attribute", _text(child.children[0]), child.meta.line, value=child.children[-1]
                )
            )
        elif child.data == "block":
            inner = next(c for c in child.children if isinstance(c, Tree) and c.data == "body")
            labels = [
                _text(c)
                for c in child.children[1:]
                if isinstance(c, Tree) and c.data != "body" and c is not inner
            ]
            nodes.append(
                Node(
                    "block",
                    _text(child.children[0]),
                    child.meta.line,
                    labels=labels,
                    body=_read_body(inner),
                )
            )
    return nodes


@cache
def read_tf(path: Path) -> list[Node]:
    """The top-level blocks of one file (cached: each file is checked against several schemas;
    a test that edits a file works on a copy with its own path)."""
    with path.open(encoding="utf-8") as handle:
        tree = hcl2.parse_to_tree(handle)
    body = next(c for c in tree.children if isinstance(c, Tree) and c.data == "body")
    return _read_body(body)


# --- the check ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    path: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


def _suggest(name: str, candidates: Any) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.7)
    return f" (did you mean {close[0]}?)" if close else ""


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """Follow a `same_as` (a schema loop the extract cut) to the block it points at."""
    if "same_as" not in schema:
        return schema
    node = root
    for step in schema["same_as"].split(".")[1:]:
        node = node.get("blocks", {}).get(step) or node["object_arguments"][step]
    return node


def _object_keys(value: Tree) -> list[tuple[str, Tree]] | None:
    """(key, value) pairs of an object literal, or None when the value is any other expression."""
    term = value.children[0] if value.data == "expr_term" and value.children else value
    if not isinstance(term, Tree) or term.data != "object":
        return None
    pairs = []
    for elem in term.children:
        if isinstance(elem, Tree) and elem.data == "object_elem":
            key_tree, *_, elem_value = [c for c in elem.children if isinstance(c, Tree)]
            pairs.append((_text(key_tree), elem_value))
    return pairs


def _literal_strings(value: Tree) -> list[str]:
    """The literal strings of a value: a quoted string without interpolation, or each such string
    of a list literal. Expressions are left alone (their value is only known at plan time)."""
    found = []
    for item in _list_items(value):
        term = item.children[0] if item.data == "expr_term" and item.children else item
        if not isinstance(term, Tree) or term.data != "string":
            continue
        # A part with a subtree holds an interpolation: ${...} is not a literal.
        parts = [c for c in term.children if isinstance(c, Tree)]
        if not any(isinstance(c, Tree) for part in parts for c in part.children):
            found.append(_text(term))
    return found


def _list_items(value: Tree) -> list[Tree]:
    term = value.children[0] if value.data == "expr_term" and value.children else value
    if isinstance(term, Tree) and term.data == "tuple":
        return [c for c in term.children if isinstance(c, Tree)]
    return [value]


@dataclass
class Checker:
    path: Path
    root: dict[str, Any] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    def report(self, line: int, message: str) -> None:
        self.findings.append(Finding(self.path, line, message))

    def check_object(self, value: Tree, schema: dict[str, Any], where: str, line: int) -> None:
        schema = _resolve(schema, self.root)
        allowed = {**schema.get("arguments", {}), **schema.get("blocks", {})}
        for item in _list_items(value):
            pairs = _object_keys(item)
            for key, inner in pairs or []:
                if key not in allowed:
                    self.report(
                        line,
                        f"{where} has no attribute {key}{_suggest(key, allowed)}; "
                        "Terraform would drop it from the object",
                    )
                elif key in schema.get("object_arguments", {}):
                    self.check_object(
                        inner, schema["object_arguments"][key], f"{where}.{key}", line
                    )

    def check_body(
        self,
        body: list[Node],
        schema: dict[str, Any],
        where: str,
        line: int,
        meta: str | None = None,
    ) -> None:
        """`meta` is "resource" or "data" for a top-level block, whose meta-arguments count."""
        schema = _resolve(schema, self.root)
        arguments: dict[str, str] = schema.get("arguments", {})
        blocks: dict[str, Any] = schema.get("blocks", {})
        objects: dict[str, Any] = schema.get("object_arguments", {})
        set_arguments: set[str] = set()
        block_lines: dict[str, list[int]] = {}
        dynamic: set[str] = set()
        for node in body:
            if node.kind == "attribute":
                if meta and node.name in META_ARGUMENTS:
                    set_arguments.add(node.name)
                elif node.name in arguments:
                    set_arguments.add(node.name)
                    allowed = schema.get("values", {}).get(node.name)
                    for literal in _literal_strings(node.value) if allowed and node.value else []:
                        if literal not in allowed:
                            self.report(
                                node.line,
                                f"{where}.{node.name} cannot be {literal!r}: the provider accepts "
                                f"{', '.join(allowed)}",
                            )
                    if node.name in objects and node.value is not None:
                        self.check_object(
                            node.value, objects[node.name], f"{where}.{node.name}", node.line
                        )
                elif node.name in blocks:
                    self.report(
                        node.line,
                        f"{where}.{node.name} is a block: write `{node.name} {{ ... }}`, "
                        "not an argument",
                    )
                else:
                    self.report(
                        node.line,
                        f"{where} has no argument {node.name}"
                        f"{_suggest(node.name, [*arguments, *blocks])}",
                    )
            elif meta and node.name in META_BLOCKS[meta]:
                if node.name == "lifecycle":
                    self.check_body(node.body, LIFECYCLE[meta], f"{where}.lifecycle", node.line)
            elif node.name == "dynamic":
                self.check_dynamic(node, blocks, where, dynamic)
            elif node.name in blocks:
                block_lines.setdefault(node.name, []).append(node.line)
                if node.labels:
                    self.report(node.line, f"{where}.{node.name} is a block without labels")
                self.check_body(node.body, blocks[node.name], f"{where}.{node.name}", node.line)
            elif node.name in arguments:
                self.report(
                    node.line,
                    f"{where}.{node.name} is an argument: write `{node.name} = ...`, not a block",
                )
            else:
                self.report(
                    node.line,
                    f"{where} has no block {node.name}{_suggest(node.name, [*blocks, *arguments])}",
                )
        if meta and {"count", "for_each"} <= set_arguments:
            self.report(line, f"{where} sets both count and for_each")
        for name, spec in blocks.items():
            lines = block_lines.get(name, [])
            if spec.get("max_items") == 1 and len(lines) > 1:
                self.report(lines[1], f"{where} allows one {name} block, not {len(lines)}")
            if spec.get("required") and not lines and name not in dynamic:
                self.report(line, f"{where} is missing its required block {name}")
        for name, need in arguments.items():
            if need == "required" and name not in set_arguments:
                self.report(line, f"{where} is missing its required argument {name}")

    def check_dynamic(
        self, node: Node, blocks: dict[str, Any], where: str, dynamic: set[str]
    ) -> None:
        if len(node.labels) != 1:
            self.report(node.line, f"{where}: a dynamic block needs one label, the block's name")
            return
        name = node.labels[0]
        if name not in blocks:
            self.report(
                node.line, f"{where} has no block {name} to generate{_suggest(name, blocks)}"
            )
            return
        dynamic.add(name)
        contents = [n for n in node.body if n.kind == "block" and n.name == "content"]
        attributes = {n.name for n in node.body if n.kind == "attribute"}
        for extra in attributes - DYNAMIC_ARGUMENTS:
            self.report(node.line, f"{where}: dynamic {name} has no argument {extra}")
        if "for_each" not in attributes:
            self.report(node.line, f"{where}: dynamic {name} needs for_each")
        if len(contents) != 1:
            self.report(node.line, f"{where}: dynamic {name} needs exactly one content block")
        for other in node.body:
            if other.kind == "block" and other.name != "content":
                self.report(other.line, f"{where}: dynamic {name} has no block {other.name}")
        for content in contents:
            self.check_body(content.body, blocks[name], f"{where}.{name}", content.line)


def _provider_of(node: Node) -> str | None:
    for child in node.body:
        if child.kind == "attribute" and child.name == "provider" and child.value is not None:
            return _text(child.value).split(".")[0]
    return None


def check_file(path: Path, schema: ProviderSchema) -> list[Finding]:
    findings: list[Finding] = []
    top = read_tf(path)
    # Data sources scoped to a `check` block are checked like top-level ones.
    nested = [n for block in top if block.name == "check" for n in block.body]
    for node in [*top, *nested]:
        if node.kind != "block":
            continue
        if node.name in ("resource", "data") and len(node.labels) == 2:
            rtype, label = node.labels
            kind = "data source" if node.name == "data" else "resource"
            address = f"{'data.' if node.name == 'data' else ''}{rtype}.{label}"
            provider = _provider_of(node) or rtype.split("_")[0]
            if provider != "google":
                findings.append(
                    Finding(path, node.line, f"{address}: no schema for provider {provider}")
                )
                continue
            types = schema.types(node.name)
            if rtype not in types:
                findings.append(
                    Finding(
                        path,
                        node.line,
                        f"{address}: google {schema.version} has no {kind} type {rtype}"
                        f"{_suggest(rtype, types)}",
                    )
                )
                continue
            checker = Checker(path, root=types[rtype])
            checker.check_body(node.body, types[rtype], address, node.line, meta=node.name)
            findings += checker.findings
        elif node.name == "provider" and node.labels:
            if node.labels[0] != "google":
                findings.append(
                    Finding(path, node.line, f"no schema for provider {node.labels[0]}")
                )
                continue
            provider_schema = {
                **schema.provider,
                "arguments": {
                    **schema.provider.get("arguments", {}),
                    **dict.fromkeys(PROVIDER_META_ARGUMENTS, "optional"),
                },
            }
            checker = Checker(path, root=provider_schema)
            checker.check_body(node.body, provider_schema, 'provider "google"', node.line)
            findings += checker.findings
    return findings


# TYPE.NAME[index].ATTRIBUTE or data.TYPE.NAME.ATTRIBUTE inside any expression (token text as
# python-hcl2 gives it, without spaces).
_REFERENCE = re.compile(
    r"(?<![\w.])(?P<data>data\.)?(?P<type>google_\w+)\.(?P<name>\w+)"
    r"(?:\[[^\]]*\]|\[\*\])*\.(?P<attribute>\w+)"
)


def _attributes(nodes: list[Node]) -> list[Node]:
    found = []
    for node in nodes:
        if node.kind == "attribute":
            found.append(node)
        else:
            found += _attributes(node.body)
    return found


def check_references(module_dir: Path, schema: ProviderSchema) -> list[Finding]:
    """Every TYPE.NAME.ATTRIBUTE an expression of the module reads names a block the module
    declares and an attribute its type exports (arguments, blocks and computed attributes):
    what `terraform validate` reports as an undeclared resource or an unsupported attribute."""
    files = {path: read_tf(path) for path in sorted(module_dir.glob("*.tf"))}
    tops = [node for nodes in files.values() for node in nodes if node.kind == "block"]
    scoped = [node for block in tops if block.name == "check" for node in block.body]
    declared = {
        (node.name, *node.labels)
        for node in [*tops, *scoped]
        if node.name in ("resource", "data") and len(node.labels) == 2
    }
    findings = []
    for path, nodes in files.items():
        for node in _attributes(nodes):
            for match in _REFERENCE.finditer(_text(node.value) if node.value else ""):
                mode = "data" if match["data"] else "resource"
                address = f"{match['data'] or ''}{match['type']}.{match['name']}"
                if (mode, match["type"], match["name"]) not in declared:
                    findings.append(
                        Finding(path, node.line, f"{address} is not declared in {module_dir.name}")
                    )
                    continue
                spec = schema.types(mode).get(match["type"])
                if spec is None:
                    continue  # reported where it is declared
                readable = {
                    *spec.get("arguments", {}),
                    *spec.get("blocks", {}),
                    *spec.get("computed", []),
                }
                if match["attribute"] not in readable:
                    findings.append(
                        Finding(
                            path,
                            node.line,
                            f"{address} has no attribute {match['attribute']}"
                            f"{_suggest(match['attribute'], readable)}",
                        )
                    )
    return findings


def module_dirs(terraform_dir: Path) -> list[Path]:
    """Every directory of .tf files under `terraform_dir` (the root and each module)."""
    dirs = {p.parent for p in terraform_dir.rglob("*.tf") if ".terraform" not in p.parts}
    return sorted(dirs)


def check_module(module_dir: Path, schema: ProviderSchema) -> list[Finding]:
    findings: list[Finding] = []
    for path in sorted(module_dir.glob("*.tf")):
        findings += check_file(path, schema)
    return findings + check_references(module_dir, schema)


def count_blocks(module_dir: Path) -> Counter[str]:
    """How many resource, data and provider blocks a directory has (to show the check saw them)."""
    counts: Counter[str] = Counter()
    for path in module_dir.glob("*.tf"):
        counts.update(n.name for n in read_tf(path) if n.kind == "block")
    return counts
