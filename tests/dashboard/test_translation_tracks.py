"""The dashboard offers a run's English translation track beside its own, and says which is which."""

from __future__ import annotations

import json
import re

from edge.runtime.tracks import TrackBuilder
from edge.store.records import CAPTION, POLISHED, TRANSLATION


def test_a_runs_translation_track_is_listed_and_shown_beside_its_polished_track(client, box):
    records = box.store.records
    run = records.open_run("rueda", "rtsp://10.0.0.5/rueda", live=True)
    (live,) = records.append([(CAPTION, run.id, "rueda", 0.0, 3.0, run.wall(0.0), run.wall(3.0),
                               "El puerto sigue cerado.", "{}")])
    records.append([
        (POLISHED, run.id, "rueda", 0.0, 3.0, run.wall(0.0), run.wall(3.0), "El puerto sigue cerrado.",
         json.dumps({"replaces": [live.seq], "language": "es"})),
        (TRANSLATION, run.id, "rueda", 0.0, 3.0, run.wall(0.0), run.wall(3.0), "The port is still closed.",
         json.dumps({"source": [live.seq], "language": "en", "from": "es"})),
    ])
    records.close_run(run.id, "ended")
    assert TrackBuilder(box.store).step() == 1

    page = client.get("/assets", params={"kind": "caption_track"}).text
    rows = re.findall(r'<strong class="asset-name">([^<]+)</strong>\s*<span class="muted small">([^<]+)<', page)
    labels = {name.rsplit("-", 1)[-1]: label for name, label in rows}
    assert set(labels) == {"captions.vtt", "captions.en.vtt"}
    assert "English translation from es" in labels["captions.en.vtt"]
    assert "polished" in labels["captions.vtt"] and "translation" not in labels["captions.vtt"]

    english = next(a for a in box.store.list(kind="caption_track") if a.name.endswith(".en.vtt"))
    detail = client.get(f"/assets/{english.id}").text
    assert "The port is still closed." in detail and "English translation from es" in detail
