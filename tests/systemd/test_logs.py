"""Logs as JSON lines (for the journal) or text, to stderr or a size-rotated file."""

from __future__ import annotations

import json
import logging

import pytest

from edge import logs


@pytest.fixture
def restore_root_logger():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        if h not in handlers:
            root.removeHandler(h)
            h.close()
    root.setLevel(level)


def test_each_record_is_one_json_object_with_its_extra_fields(tmp_path, restore_root_logger):
    path = tmp_path / "box.log"
    logs.setup_logging(verbose=True, fmt="json", file=path)
    log = logging.getLogger("edge.test")
    log.warning("sensor alert raised: %s", "Wind 62 km/h", extra={"device": "ws-1", "value": 62.0})
    try:
        raise ValueError("bad payload")
    except ValueError:
        log.exception("could not store readings")
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert lines[0]["msg"] == "sensor alert raised: Wind 62 km/h" and lines[0]["level"] == "warning"
    assert lines[0]["logger"] == "edge.test" and lines[0]["device"] == "ws-1" and lines[0]["value"] == 62.0
    assert lines[0]["ts"].endswith("Z") and "ValueError: bad payload" in lines[1]["exc"]


def test_the_log_file_rotates_and_keeps_a_few(tmp_path, monkeypatch, restore_root_logger):
    monkeypatch.setattr(logs, "ROTATE_BYTES", 2000)
    path = tmp_path / "box.log"
    logs.setup_logging(fmt="text", file=path)
    for i in range(200):
        logging.getLogger("edge.test").warning("line %d of a long day", i)
    rotated = sorted(p.name for p in tmp_path.iterdir())
    assert rotated[:3] == ["box.log", "box.log.1", "box.log.2"] and len(rotated) <= 1 + logs.ROTATE_KEEP
    assert path.stat().st_size <= 2000


def test_the_cli_takes_log_format_json_and_refuses_others(capsys, restore_root_logger):
    from edge.cli import main

    assert main(["--log-format", "json", "-v", "profiles"]) == 0
    assert "x86-cpu" in capsys.readouterr().out
    handler = next(h for h in logging.getLogger().handlers if getattr(h, "_edge", False))
    assert isinstance(handler.formatter, logs.JsonFormatter)
    with pytest.raises(SystemExit) as refused:
        main(["--log-format", "xml", "profiles"])
    assert refused.value.code == 2 and "invalid choice: 'xml'" in capsys.readouterr().err
