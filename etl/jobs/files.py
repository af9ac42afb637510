"""Job and connection files: YAML, with `${VAR}` taken from the environment.

Errors name the file and the field, in one sentence each, so a user knows what to fix.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pydantic
import yaml

from etl.errors import ConfigurationError
from etl.jobs.model import JobSpec

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand_environment(value: Any, where: str) -> Any:
    """Replace `${NAME}` in every string with the environment variable NAME."""
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in os.environ:
                raise ConfigurationError(f"{where}: environment variable {name} is not set.")
            return os.environ[name]

        return _VARIABLE.sub(substitute, value)
    if isinstance(value, dict):
        return {key: expand_environment(item, where) for key, item in value.items()}
    if isinstance(value, list):
        return [expand_environment(item, where) for item in value]
    return value


def read_yaml_documents(path: str | Path) -> list[dict[str, Any]]:
    file = Path(path)
    if not file.is_file():
        raise ConfigurationError(f"File {file} does not exist.")
    try:
        documents = [doc for doc in yaml.safe_load_all(file.read_text()) if doc is not None]
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark else ""
        raise ConfigurationError(f"{file} is not valid YAML{line}.") from None
    for document in documents:
        if not isinstance(document, dict):
            raise ConfigurationError(f"{file}: each document must be a mapping of fields.")
    return documents


def describe_validation_error(error: pydantic.ValidationError, where: str) -> str:
    problems = []
    for item in error.errors():
        location = ".".join(str(part) for part in item["loc"] if not isinstance(part, int))
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "is not a known field"
        elif item["type"] == "missing":
            message = "is required"
        problems.append(f"{location} {message}" if location else message)
    return f"{where}: " + "; ".join(problems) + "."


def parse_job(data: dict[str, Any], where: str) -> JobSpec:
    try:
        return JobSpec.model_validate(data)
    except pydantic.ValidationError as error:
        raise ConfigurationError(describe_validation_error(error, where)) from None


def load_job_file(path: str | Path) -> JobSpec:
    documents = read_yaml_documents(path)
    if len(documents) != 1:
        raise ConfigurationError(f"{path}: a job file holds exactly one job.")
    return parse_job(expand_environment(documents[0], str(path)), str(path))
