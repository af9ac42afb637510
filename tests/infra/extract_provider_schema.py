"""Regenerate tests/infra/provider_schemas/google-<version>.json, the Google provider's schema.

Terraform cannot download providers on these machines, so `terraform providers schema -json`
cannot run. The schema comes instead from a prebuilt CDK binding of the provider on PyPI
(`cdktn-provider-google`, CDK Terrain's continuation of `cdktf-cdktf-provider-google`): its wheel
ships a jsii assembly (a gzipped tarball holding `package/.jsii`, ~130 MB of JSON) that describes
every resource's and data source's configuration struct. That is far too large to install for a
test, so this script reads it once and writes the part the test needs: for each type, its
arguments (required or optional), its nested blocks (required, at most one, and their own
arguments and blocks) and the keys of object-valued arguments.

The Terraform names are read, not guessed: the generator writes every property's documentation
link as `.../docs/resources/<type>#<terraform_name> <Class>#<terraform_name>`, and the script
checks that the camelCase property name is what the generator derives from that snake_case name
(its renames included), refusing to write an extract if a single property disagrees.

    .venv/bin/python -m tests.infra.extract_provider_schema cdktn-provider-google==20.3.1
    .venv/bin/python -m tests.infra.extract_provider_schema --wheel path/to/the.whl

The wheel is fetched with `pip download --no-deps` (nothing is installed).
"""

from __future__ import annotations

import argparse
import email.parser
import hashlib
import io
import json
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import Any

OUT_DIR = Path(__file__).resolve().parent / "provider_schemas"
PROVIDER = "hashicorp/google"
PREFIX = "google_"

_TYPE_LINK = re.compile(
    r"registry\.terraform\.io/providers/hashicorp/google/(?P<version>[0-9.]+)/docs/"
    r"(?P<kind>resources|data-sources)/\w+ (?P<type>google_\w+)\}"
)
_PROVIDER_LINK = re.compile(
    r"registry\.terraform\.io/providers/hashicorp/google/(?P<version>[0-9.]+)/docs google\}"
)
_PROPERTY_LINK = re.compile(
    r"/docs(?:/(?:resources|data-sources)/\w+)?#(?P<name>\w+) \w+#(?P=name)\}"
)
# The provider's generated resources describe enum arguments this way, from the same list their
# validation function (ValidateEnum) accepts; `terraform validate` refuses other literal values.
_POSSIBLE_VALUES = re.compile(r'Possible values: \[((?:"[^"\\]*"(?:, )?)+)\]')
_META = re.compile(r"^# CDK\w+ prebuilt bindings for hashicorp/google provider version ([0-9.]+)$")


def camel_case(snake: str) -> str:
    """The property name the CDK generator gives a Terraform name: codemaker's toCamelCase (npm
    `camelcase`, which also upper-cases a letter that follows digits: k8s -> K8S) followed by
    AttributeModel.name's renames of names that jsii or a target language reserves."""
    head, *rest = snake.split("_")
    name = head + "".join(part[:1].upper() + part[1:] for part in rest)
    name = re.sub(r"(?<=\d)[a-z]", lambda m: m.group(0).upper(), name)
    if name in ("self", "build", "tfResourceType"):
        return name + "Attribute"
    if name.startswith("get"):
        return "fetch" + name[3:]
    return {"equals": "equalTo", "node": "nodeAttribute", "system": "systemAttribute"}.get(
        name, name
    )


def snake_case(camel: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", camel).lower()


def _local_structs(type_ref: dict[str, Any], assembly: str) -> tuple[str | None, bool]:
    """(struct fqn, is a list) when a property's type is one of the assembly's structs."""
    if "fqn" in type_ref:
        fqn = type_ref["fqn"]
        return (fqn, False) if fqn.startswith(assembly + ".") else (None, False)
    if "union" in type_ref:
        for member in type_ref["union"]["types"]:
            collection = member.get("collection")
            if collection and collection["kind"] == "array":
                fqn = collection["elementtype"].get("fqn", "")
                if fqn.startswith(assembly + "."):
                    return fqn, True
    return None, False


class Extractor:
    def __init__(self, assembly: dict[str, Any], sources: dict[str, str]) -> None:
        self.name = assembly["name"]
        self.types: dict[str, Any] = assembly["types"]
        self.sources = sources  # compiled JavaScript by file name: lib/<type>/index.js
        self.problems: list[str] = []
        self.unlinked: list[str] = []

    def struct(
        self, fqn: str, where: str, ancestors: tuple[tuple[str, str], ...] = ()
    ) -> dict[str, Any]:
        for ancestor_fqn, ancestor_path in ancestors:
            if ancestor_fqn == fqn:
                # The generator closes schema loops by pointing a property back at an
                # ancestor's struct; the extract names that ancestor's path instead of looping.
                return {"same_as": ancestor_path}
        arguments: dict[str, str] = {}
        values: dict[str, list[str]] = {}
        objects: dict[str, Any] = {}
        blocks: dict[str, Any] = {}
        for prop in self.types[fqn].get("properties", []):
            docs = prop.get("docs", {})
            # The link sits in the remarks, or elsewhere when a description confused the
            # doc-comment parser; a few descriptions lose it altogether.
            link = _PROPERTY_LINK.search(json.dumps(docs))
            name = link.group("name") if link else snake_case(prop["name"])
            if not link:
                self.unlinked.append(f"{where}.{name}")
            if camel_case(name) != prop["name"]:
                self.problems.append(f"{where}: {name} is not the Terraform name of {prop['name']}")
                continue
            required = not prop.get("optional", False)
            nested_fqn, is_list = _local_structs(prop["type"], self.name)
            if nested_fqn is None:
                arguments[name] = "required" if required else "optional"
                described = docs.get("summary", "") + " " + docs.get("remarks", "")
                enums = _POSSIBLE_VALUES.findall(described)
                if len(enums) == 1:
                    values[name] = json.loads(f"[{enums[0]}]")
                continue
            nested = self.struct(nested_fqn, f"{where}.{name}", (*ancestors, (fqn, where)))
            # Blocks are documented as "<name> block"; a struct-typed property without that
            # text is an attribute whose value is an object (or a list of objects).
            if docs.get("summary", "").rstrip(".") == f"{name} block":
                entry: dict[str, Any] = {"required": required}
                if not is_list:
                    entry["max_items"] = 1
                blocks[name] = {**entry, **nested}
            else:
                arguments[name] = "required" if required else "optional"
                objects[name] = nested
        schema: dict[str, Any] = {"arguments": dict(sorted(arguments.items()))}
        if values:
            schema["values"] = dict(sorted(values.items()))
        if objects:
            schema["object_arguments"] = dict(sorted(objects.items()))
        if blocks:
            schema["blocks"] = dict(sorted(blocks.items()))
        return schema

    def extract(self) -> tuple[str, dict[str, Any]]:
        versions: set[str] = set()
        found: dict[str, dict[str, Any]] = {"resources": {}, "data-sources": {}, "provider": {}}
        for spec in self.types.values():
            base = spec.get("base", "")
            if spec.get("kind") != "class" or not base.startswith("cdk"):
                continue
            summary = spec.get("docs", {}).get("summary", "")
            config = spec.get("initializer", {}).get("parameters", [{}])[-1].get("type", {})
            if base.endswith(("TerraformResource", "TerraformDataSource")):
                link = _TYPE_LINK.search(summary)
                if link:
                    versions.add(link.group("version"))
                    schema = self.struct(config["fqn"], link.group("type"))
                    computed = self.computed(spec, schema, link.group("type"))
                    if computed:
                        schema["computed"] = computed
                    found[link.group("kind")][link.group("type")] = schema
            elif base.endswith("TerraformProvider") and (link := _PROVIDER_LINK.search(summary)):
                versions.add(link.group("version"))
                found["provider"]["google"] = self.struct(config["fqn"], "provider")
        if len(versions) != 1 or not found["provider"]:
            self.problems.append(f"the assembly links to provider versions {sorted(versions)}")
        return (versions.pop() if versions else "unknown"), {
            "provider_config": found["provider"].get("google", {}),
            "resources": dict(sorted(found["resources"].items())),
            "data_sources": dict(sorted(found["data-sources"].items())),
        }

    def computed(self, spec: dict[str, Any], schema: dict[str, Any], where: str) -> list[str]:
        """Attributes a type exports without taking them as arguments (a service account's
        `email`): what references such as google_service_account.x.email may read.

        The class's getters carry no registry link, so each camelCase getter is matched to the
        Terraform name its compiled code reads (`this.getStringAttribute('email')`,
        `new ...List(this, "conditions", false)`), which must be the one name that maps to it."""
        source = self.sources.get(spec["locationInModule"]["filename"], "")
        body = re.search(
            rf"^class {spec['name']} extends .*?^exports\.{spec['name']} = ",
            source,
            re.MULTILINE | re.DOTALL,
        )
        if body is None:
            self.problems.append(f"{where}: no compiled class {spec['name']}")
            return []
        quoted = set(re.findall(r"""['"]([a-z][a-z0-9_]*)['"]""", body.group(0)))
        settable = {*schema["arguments"], *schema.get("blocks", {})}
        names = []
        for prop in spec.get("properties", []):
            if prop.get("static") or prop["name"].endswith("Input"):
                continue
            matches = [q for q in quoted if camel_case(q) == prop["name"]]
            if len(matches) != 1:
                self.problems.append(f"{where}: getter {prop['name']} matches {matches}")
            elif matches[0] not in settable:
                names.append(matches[0])
        return sorted(names)


def read_wheel(wheel: Path) -> tuple[dict[str, Any], dict[str, str], str, str, str]:
    """The jsii assembly, its compiled sources, the package name and version, and the provider
    version the wheel's description states."""
    with zipfile.ZipFile(wheel) as archive:
        tgz_name = next(n for n in archive.namelist() if n.endswith(".jsii.tgz"))
        metadata_name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = archive.read(metadata_name).decode()
        with tarfile.open(fileobj=io.BytesIO(archive.read(tgz_name)), mode="r:gz") as tar:
            sources = {}
            for info in tar.getmembers():
                if info.name.startswith("package/lib/") and info.name.endswith("/index.js"):
                    member = tar.extractfile(info)
                    assert member is not None
                    # Keyed as jsii's locationInModule names the TypeScript file.
                    ts_name = "src/" + info.name[len("package/lib/") : -len(".js")] + ".ts"
                    sources[ts_name] = member.read().decode()
            member = tar.extractfile("package/.jsii")
            assert member is not None
            assembly = json.load(member)
    fields = email.parser.Parser().parsestr(metadata, headersonly=True)
    stated = next((m.group(1) for m in map(_META.match, metadata.splitlines()) if m), "unknown")
    return assembly, sources, fields["Name"], fields["Version"], stated


def download(requirement: str, into: Path) -> Path:
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", str(into)]
    subprocess.run([*command, requirement], check=True)
    return next(into.glob("*.whl"))


def write_extract(document: dict[str, Any], path: Path) -> None:
    """One type per line: a provider upgrade shows in `git diff` as the types that changed."""
    head = {k: v for k, v in document.items() if k not in ("resources", "data_sources")}
    lines = ["{"]
    for key, value in head.items():
        lines.append(f"{json.dumps(key)}: {json.dumps(value, sort_keys=True)},")
    for section in ("resources", "data_sources"):
        entries = [
            f"{json.dumps(name)}: {json.dumps(schema, separators=(',', ':'))}"
            for name, schema in document[section].items()
        ]
        closing = "}," if section == "resources" else "}"
        lines.append(f"{json.dumps(section)}: {{\n" + ",\n".join(entries) + f"\n{closing}")
    lines.append("}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("requirement", nargs="?", help="e.g. cdktn-provider-google==20.3.1")
    source.add_argument("--wheel", type=Path, help="a wheel already downloaded")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or download(args.requirement, Path(tmp))
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        assembly, sources, package, package_version, stated = read_wheel(wheel)
    extractor = Extractor(assembly, sources)
    version, schemas = extractor.extract()
    if stated != version:
        extractor.problems.append(f"the wheel says provider {stated}, its links say {version}")
    if extractor.problems:
        print("Not written; the assembly does not map cleanly to Terraform names:", file=sys.stderr)
        print("\n".join(extractor.problems[:50]), file=sys.stderr)
        return 1
    document = {
        "provider": PROVIDER,
        "provider_version": version,
        "source": {
            "package": f"{package}=={package_version}",
            "wheel": wheel.name,
            "wheel_sha256": digest,
            "regenerate": "python -m tests.infra.extract_provider_schema "
            f"{package}=={package_version}",
            # Properties whose documentation lost the registry link: their names are the
            # snake_case of the camelCase property name (checked to round-trip).
            "names_without_registry_link": extractor.unlinked,
        },
        **schemas,
    }
    OUT_DIR.mkdir(exist_ok=True)
    out = OUT_DIR / f"google-{version}.json"
    write_extract(document, out)
    counts = f"{len(schemas['resources'])} resources, {len(schemas['data_sources'])} data sources"
    print(f"{out}: {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
