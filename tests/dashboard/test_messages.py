"""Messages written for crews: what is wrong and what to do, in plain words; one time format; durations with units."""

from __future__ import annotations

import re
import time
from datetime import datetime

from edge.dashboard.timefmt import clock_html, clock_text, span


def upload(client, data: bytes, name: str, kind: str = "upload", content_type: str = "image/jpeg"):
    return client.post("/api/uploads", files={"file": (name, data, content_type)}, data={"kind": kind})


def test_a_text_file_named_like_a_photo_is_refused_in_plain_words(client, box):
    response = upload(client, b"Mayor at the flood wall, east bank.\n", "IMG_2041.jpg")
    assert response.status_code == 415
    detail = response.json()["detail"]
    assert detail.startswith("“IMG_2041.jpg” contains text, not a photo, video or sound recording")
    assert "copy it into the Note box" in detail  # what to do
    assert "kind=note" not in detail  # no API words for a crew
    assert box.store.count() == 0


def test_a_file_of_an_unknown_type_says_which_files_are_taken(client):
    response = upload(client, b"MZ\x90\x00" + bytes(range(256)) * 40, "tool.jpg")
    assert response.status_code == 415
    detail = response.json()["detail"]
    assert detail.startswith("The box cannot take this kind of file.")
    assert "photo (JPEG, PNG, WebP or HEIC)" in detail and "text note" in detail


def test_the_stream_form_states_the_name_rule_on_the_page(client):
    page = client.get("/streams").text
    rule = "A name is 1 to 64 letters (a-z, A-Z), digits, dots, dashes or underscores, with no spaces"
    assert f'<p id="name-rule" class="muted small field-rule">{rule}' in page
    assert 'aria-describedby="name-rule"' in page


def test_streams_are_said_to_be_remembered_across_restarts(client):
    page = client.get("/streams").text
    assert "remembered across restarts" in page and "until the box restarts" not in page


def test_clock_times_are_hh_mm_ss_today_and_carry_the_date_otherwise():
    now = time.time()
    assert clock_text(now, now=now) == datetime.fromtimestamp(now).strftime("%H:%M:%S")
    two_days_ago = now - 2 * 86400
    assert clock_text(two_days_ago, now=now) == datetime.fromtimestamp(two_days_ago).strftime("%Y-%m-%d %H:%M:%S")
    assert clock_text(None) == "–"
    html = str(clock_html(now))
    assert html.startswith("<time datetime=") and f'data-t="{now:.3f}"' in html


def test_durations_have_units():
    assert span(7032) == "1 h 57 min"
    assert span(250) == "4 min 10 s"
    assert span(45) == "45 s"
    assert span(3 * 86400 + 2 * 3600 + 5) == "3 d 2 h"


def test_pages_render_times_in_the_one_format(client, box):
    box.store.add_bytes(b"note\n", kind="note", name="n.txt", mime="text/plain")
    page = client.get("/assets").text
    # Created just now: today, so the time alone (the browser re-renders it in the phone's zone, same rule).
    assert re.search(r'<time datetime="[^"]+" data-t="[0-9.]+">\d\d:\d\d:\d\d</time>', page)
