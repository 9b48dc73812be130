"""Topics, keywords and entities of news text, and `edge tag`."""

import json
import subprocess
import sys

from edge.tagging.entities import entities, keywords
from edge.tagging.tagger import Tagger
from edge.tagging.topics import SUBJECTS

FLOOD = ("Mayor Jane Okafor said the East Bank flood wall held overnight as the river rose. "
         "The Environment Agency evacuated 40 homes in Riverside at 3 p.m. on Monday.")


def test_the_seventeen_top_level_subjects_with_their_official_codes():
    assert len(SUBJECTS) == 17
    assert SUBJECTS["medtop:15000000"][0] == "sport"
    assert SUBJECTS["medtop:17000000"][0] == "weather"
    assert all(code.startswith("medtop:") and len(code) == 15 for code in SUBJECTS)


def test_topics_follow_the_meaning(embedder):
    tagger = Tagger(embedder)
    assert tagger.tag(FLOOD).topics[0].code == "medtop:03000000"  # disaster, accident and emergency incident
    assert tagger.tag("United came from behind to win the derby three-two.").topics[0].code == "medtop:15000000"
    assert tagger.tag("Councillors voted to approve the new housing strategy.").topics[0].code == "medtop:11000000"
    assert tagger.tag("   ").topics == []


def test_entities_need_a_cue_and_leave_titles_out():
    found = {(e.text, e.type) for e in entities(FLOOD)}
    assert {("Jane Okafor", "person"), ("East Bank", "place"), ("Environment Agency", "organisation"),
            ("Riverside", "place"), ("Monday", "time")} <= found
    assert not any(t == "Mayor Jane Okafor" for t, _ in found)
    assert entities("") == []


def test_keywords_skip_function_words():
    words = keywords("The flood wall held. The flood wall is old and the flood came at night.")
    assert words[0] == "flood" and "the" not in words


def test_edge_tag_prints_the_documented_json():
    out = subprocess.run([sys.executable, "-m", "edge.cli", "tag", "--text", FLOOD, "--json"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert set(doc) == {"topics", "keywords", "entities"}
    assert {"code", "label", "score"} <= set(doc["topics"][0])
    assert {"text": "Jane Okafor", "type": "person"} in doc["entities"]


def test_edge_tag_refuses_an_empty_text():
    out = subprocess.run([sys.executable, "-m", "edge.cli", "tag", "--text", "  "],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "empty" in out.stderr
