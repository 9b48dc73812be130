"""The one ninjs module: what it writes validates against IPTC's 2.2 schema, and what the schema refuses is refused."""

from __future__ import annotations

import pytest

from edge.drafts.ninjs import NinjsError, asset_document, provenance_of, validate


def test_an_item_with_little_metadata_still_validates():
    doc = asset_document({"box": "truck-7", "id": "18eb4f7643ad1a1008f3db41c4", "kind": "media", "size": 3},
                         file="media/x.bin", headline="x.bin")
    assert doc["type"] == "component" and "versioncreated" not in doc
    assert provenance_of(doc) == {"box": "truck-7"}


def test_unknown_top_level_keys_bad_uris_and_times_are_refused():
    good = {"uri": "urn:edge-box:b:draft:1", "type": "text", "headlines": [{"role": "main", "value": "h"}]}
    assert validate(dict(good)) == good
    with pytest.raises(NinjsError, match="Unevaluated properties|additional"):
        validate({**good, "provenance": {}})
    with pytest.raises(NinjsError, match="uri: 'not a uri' is not a URI"):
        validate({**good, "uri": "not a uri"})
    with pytest.raises(NinjsError, match="versioncreated"):
        validate({**good, "versioncreated": "yesterday"})
    with pytest.raises(NinjsError, match="pubstatus"):
        validate({**good, "pubstatus": "approved"})
