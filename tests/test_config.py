"""The box configuration file is validated at start-up; errors name the field."""

from __future__ import annotations

import pytest

from edge.config import BoxConfig, load_config
from edge.errors import ConfigError


def test_no_file_means_defaults():
    config = load_config(None)
    assert config.dashboard.port == 8080 and config.streams == []


def test_streams_and_dashboard_are_read(tmp_path):
    path = tmp_path / "box.yaml"
    path.write_text("box_id: truck-7\nstreams:\n  - {name: cam1, source: rtsp://127.0.0.1/cam}\ndashboard: {port: 9000}\n")
    config = load_config(path)
    assert config.box_id == "truck-7" and config.streams[0].source == "rtsp://127.0.0.1/cam"
    assert config.dashboard.port == 9000


@pytest.mark.parametrize(
    "text, field",
    [
        ("dashboard: {port: 99999}\n", "dashboard.port"),
        ("streams:\n  - {name: cam1}\n", "streams.0.source"),
        ("streams:\n  - {name: 'bad name', source: x}\n", "streams.0.name"),
        ("stream: []\n", "stream"),
        ("streams:\n  - {name: a, source: x}\n  - {name: a, source: y}\n", "streams"),
    ],
)
def test_a_bad_field_is_named(tmp_path, text, field):
    path = tmp_path / "box.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=rf"field '{field}'"):
        load_config(path)


def test_a_missing_file_says_so(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")


def test_broken_yaml_is_one_line(tmp_path):
    path = tmp_path / "box.yaml"
    path.write_text("streams: [\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "\n" not in str(err.value)


def test_defaults_validate():
    assert BoxConfig().store.disk_floor_mb >= 16
