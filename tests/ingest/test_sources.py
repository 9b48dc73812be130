"""The one source rule: which strings name which source, which are live, and what is refused everywhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.errors import MediaError
from edge.ingest.gstreamer import open_media
from edge.ingest.sources import REFUSED, SourcePolicy, SourceRefused, admit, classify, is_live, redact


@pytest.mark.parametrize(
    ("source", "kind", "live"),
    [
        ("/srv/media/clip.mp4", "file", False),
        ("clip.mkv", "file", False),
        ("file:///srv/media/a%20b.mp4", "file", False),
        ("rtsp://10.0.0.5/stream1", "rtsp", True),
        ("rtsps://cam.local/s", "rtsp", True),
        ("rtspt://10.0.0.5:554/s", "rtsp", True),  # RTSP over TCP is a camera too, so it is retried
        ("RTSP://10.0.0.5/upper", "rtsp", True),
        ("http://10.0.0.9/clip.mp4", "http", False),
        ("https://example.org/clip.mp4", "http", False),
        ("alsa:hw:1", "alsa", True),
        ("pulse:default", "pulse", True),
        ("/dev/video0", "v4l2", True),
    ],
)
def test_each_form_names_one_source_type_and_says_whether_it_is_live(source: str, kind: str, live: bool) -> None:
    spec = classify(source)
    assert (spec.type, spec.live) == (kind, live)
    assert is_live(source) is live


@pytest.mark.parametrize("source", ["srt://10.0.0.5:9000", "rtmp://host/live", "udp://239.0.0.1:5000",
                                    "gopher://host/x", "ftp://host/x", "rtsp://", "", "   ", "a\nb"])
def test_schemes_ingest_cannot_open_are_refused_with_the_same_message(source: str) -> None:
    with pytest.raises(SourceRefused) as refused:
        classify(source)
    assert refused.value.fix  # every refusal says what to use instead
    assert is_live(source) is False


@pytest.mark.parametrize("source", ["srt://10.0.0.5:9000", "udp://239.0.0.1:5000"])
def test_ingest_refuses_them_too_with_the_rules_message(source: str) -> None:
    with pytest.raises(MediaError) as refused:
        list(open_media(source))
    with pytest.raises(SourceRefused) as expected:
        classify(source)
    assert str(refused.value) == str(expected.value)


def test_passwords_never_reach_labels() -> None:
    spec = classify("rtsp://crew:s3cret@10.0.0.5/stream")
    assert "s3cret" not in spec.label and "s3cret" not in redact(spec.text)
    assert spec.text.endswith("@10.0.0.5/stream")  # the box itself still needs the password


def test_network_sources_follow_the_site_policy_with_one_answer_for_every_refusal(tmp_path: Path) -> None:
    media = tmp_path / "media"
    media.mkdir()
    (media / "clip.mp4").write_bytes(b"x")
    outside = tmp_path / "secret.txt"
    outside.write_text("x")
    policy = SourcePolicy(media_dirs=[media])
    assert admit(str(media / "clip.mp4"), policy).type == "file"
    assert admit("rtsp://10.0.0.5/s", policy).live
    refused = []
    for source in [str(outside), str(media / "missing.mp4"), f"{media}/../secret.txt", "file:///etc/shadow",
                   "/etc/passwd", "http://127.0.0.1:18099/latest/meta-data/iam?x=1", "gopher://x/y", "udp://x:1"]:
        with pytest.raises(SourceRefused) as exc:
            admit(source, policy)
        refused.append(exc.value.problem)
    assert set(refused) == {REFUSED}  # no oracle: missing and forbidden look the same
    assert admit("http://10.0.0.9/clip.mp4", SourcePolicy(allow_http=True)).type == "http"
