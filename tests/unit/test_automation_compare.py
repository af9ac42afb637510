"""`etl automations apply` compares what the server holds with the files: a trigger's sets
(`expect`, `after`, `for_each`) dump as lists in an order that varies between processes, so
the comparison must not depend on it (CI once saw a re-apply report `updated`)."""

from __future__ import annotations

import copy
import uuid
from pathlib import Path
from typing import Any

from etl_bigquery.service.automations import _automation, _comparable, load_definitions

ROOT = Path(__file__).resolve().parents[2]


class _AsTheServerSentIt:
    """An automation as dumped by another process: the same content, sets in another order."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def model_dump(self, mode: str) -> dict[str, Any]:
        return copy.deepcopy(self._data)


def test_the_order_of_a_triggers_sets_is_not_a_change():
    definitions = load_definitions(ROOT / "etl_bigquery" / "resources" / "automations", None)
    failed = next(d for d in definitions if d["name"] == "etl-run-failed")
    wanted = _automation(failed, {"etl-alerts": uuid.uuid4()})
    dumped = wanted.model_dump(mode="json")
    assert len(dumped["trigger"]["expect"]) == 2
    dumped["trigger"]["expect"].reverse()
    assert _comparable(_AsTheServerSentIt(dumped)) == _comparable(wanted)
    dumped["trigger"]["expect"] = ["prefect.flow-run.Failed"]  # a real change still shows
    assert _comparable(_AsTheServerSentIt(dumped)) != _comparable(wanted)
