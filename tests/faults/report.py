"""Print the README's reliability table from `.etl/faults/results.jsonl`.

    python -m tests.faults.report [RESULTS_FILE]

One row per scenario (the latest line of each): scenario | runs | rows lost | rows duplicated |
what the user saw. Rows whose content differs (same key, another value) are shown beside the
duplicates, since a checksum mismatch is neither a loss nor a duplicate.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from tests.faults.harness import RESULTS


def latest(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The last result of each scenario, in the order scenarios first appeared."""
    by_scenario: dict[str, dict[str, Any]] = {}
    for line in lines:
        by_scenario.pop(line["scenario"], None)
        by_scenario[line["scenario"]] = line
    return list(by_scenario.values())


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def table(lines: list[dict[str, Any]]) -> str:
    out = [
        "| scenario | runs | rows lost | rows duplicated | what the user saw |",
        "|---|---:|---:|---:|---|",
    ]
    for line in latest(lines):
        duplicated = str(line.get("rows_duplicated", "?"))
        if line.get("rows_changed"):
            duplicated += f" ({line['rows_changed']} rows differ)"
        elif line.get("checksum_equal") is False:
            duplicated += " (checksum differs)"
        out.append(
            f"| {_cell(line['scenario'])} | {line.get('runs', '?')} | "
            f"{line.get('rows_lost', '?')} | {duplicated} | {_cell(line.get('user_saw', ''))} |"
        )
    return "\n".join(out)


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else RESULTS
    if not path.is_file():
        raise SystemExit(f"No results in {path}; run `make faults` first.")
    lines = [json.loads(text) for text in path.read_text().splitlines() if text.strip()]
    print(table(lines))


if __name__ == "__main__":
    main()
