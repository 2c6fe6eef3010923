"""The checked-in JSON Schemas and AsyncAPI document match the models."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from dropwave_contracts import ALL_EVENTS, WIRE_REQUIRED_FIELDS, all_topic_specs
from dropwave_contracts.generate import CONTRACTS_ROOT, artefact_name, check, render, write


def test_checked_in_files_are_up_to_date() -> None:
    drifted = check()
    assert not drifted, "regenerate with `python -m dropwave_contracts.generate`: " + ", ".join(
        str(p.relative_to(CONTRACTS_ROOT)) for p in drifted
    )


def test_generation_is_deterministic() -> None:
    assert render() == render()
    for content in render().values():
        assert content.endswith("}\n")


def test_check_reports_changed_missing_and_stale_files(tmp_path: Path) -> None:
    shutil.copy(CONTRACTS_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    assert len(check(tmp_path)) == len(ALL_EVENTS) + 1  # nothing written yet
    write(tmp_path)
    assert check(tmp_path) == []
    (tmp_path / "schemas" / "OrderPlaced.json").write_text("{}\n")
    (tmp_path / "schemas" / "OrderShipped.json").write_text("{}\n")
    assert check(tmp_path) == [
        tmp_path / "schemas" / "OrderPlaced.json",
        tmp_path / "schemas" / "OrderShipped.json",
    ]
    write(tmp_path)
    assert check(tmp_path) == []
    assert not (tmp_path / "schemas" / "OrderShipped.json").exists()


def test_schemas_require_the_wire_envelope() -> None:
    for event_cls in ALL_EVENTS:
        path = CONTRACTS_ROOT / "schemas" / f"{artefact_name(event_cls)}.json"
        schema = json.loads(path.read_text())
        key = event_cls.partition_key  # campaign_id, or creator_id for creator events
        assert set(WIRE_REQUIRED_FIELDS) | {key} <= set(schema["required"])
        assert "causation_id" not in schema["required"]
        assert schema.get("additionalProperties") is not False  # forward compatible


def _resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/")
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def test_asyncapi_document() -> None:
    doc = json.loads((CONTRACTS_ROOT / "asyncapi.json").read_text())
    assert doc["asyncapi"] == "3.0.0"
    assert doc["info"]["title"] == "DropWave events"
    assert doc["servers"]["development"]["protocol"] == "kafka"
    addresses = {c["address"]: c for c in doc["channels"].values()}
    assert set(addresses) == {s.name for s in all_topic_specs()}
    for spec in all_topic_specs():
        channel = addresses[spec.name]
        assert channel["bindings"]["kafka"]["partitions"] == spec.partitions
        names = {artefact_name(c) for c in spec.events}
        assert set(channel.get("messages", {})) == names
        for ref in channel.get("messages", {}).values():
            message = _resolve(doc, ref["$ref"])
            assert message["bindings"]["kafka"]["key"]["type"] == "string"
            assert _resolve(doc, message["payload"]["$ref"])["type"] == "object"
    sends = [op for op in doc["operations"].values() if op["action"] == "send"]
    assert len(sends) == 6  # campaigns and payments send on two topics each
    for op in sends:
        channel = _resolve(doc, op["channel"]["$ref"])
        for ref in op["messages"]:
            assert ref["$ref"].startswith(op["channel"]["$ref"] + "/messages/")
            _resolve(doc, ref["$ref"])
        assert channel["messages"]
