"""The glossary page and API: the crew edits the event's names; bad text is refused by line."""

from __future__ import annotations


def test_the_glossary_is_saved_from_the_dashboard_and_used_per_stream(client, box):
    r = client.put("/api/glossary", json={"stream": None, "text": "Ouagadougou | waga doo goo\n"})
    assert r.status_code == 200, r.text
    r = client.put("/api/glossary", json={"stream": "cam1", "text": "Kinmeld Logistics\n"})
    assert r.json()["terms"] == ["Ouagadougou", "Kinmeld Logistics"]
    assert client.get("/api/glossary", params={"stream": "cam2"}).json()["terms"] == ["Ouagadougou"]
    page = client.get("/glossary")
    assert page.status_code == 200 and "Ouagadougou | waga doo goo" in page.text


def test_a_bad_glossary_is_refused_naming_the_line_and_nothing_is_written(client, box):
    client.put("/api/glossary", json={"stream": None, "text": "Ouagadougou\n"})
    r = client.put("/api/glossary", json={"stream": None, "text": "Ouagadougou\n| no term\n"})
    assert r.status_code == 422 and "line 2 has no term" in r.json()["detail"]
    assert client.get("/api/glossary").json()["text"] == "Ouagadougou\n"
    r = client.put("/api/glossary", json={"stream": "../etc", "text": "X\n"})
    assert r.status_code == 422 and "field 'stream'" in r.json()["detail"]
