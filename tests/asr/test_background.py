"""Background re-decodes run in a child process at the OS's idle priority, so live finals never wait for them:
the same text as the box's engine, no scheduler slot, a dead child costs one window, stopping waits for none."""

from __future__ import annotations

import os
import signal
import threading

import numpy as np
import pytest

from edge.asr.background import BackgroundWhisper
from edge.asr.polish import ClosedSpeech, Polisher, polish_complete
from edge.errors import ModelError
from edge.events import SAMPLE_RATE
from edge.runtime.scheduler import Priority
from edge.store import AssetStore
from edge.store.records import CAPTION, POLISHED
from tests.conftest import SENTENCES, speak

pytestmark = pytest.mark.slow

PAUSE = np.zeros(int(0.9 * SAMPLE_RATE), np.float32)


@pytest.fixture(scope="module")
def sentences() -> list[np.ndarray]:
    return [speak(s, "en-us" if i % 2 == 0 else "en-gb") for i, s in enumerate(SENTENCES)]


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_the_child_decodes_a_window_exactly_as_the_box_engine_does_in_the_idle_class_without_a_slot(
        speech_models, sentences):
    audio = np.concatenate([PAUSE, sentences[0], PAUSE, sentences[1], PAUSE])
    settings = speech_models.profile.asr.offline
    previous = speech_models.whisper.tokenizer.encode(" Good evening.")
    background = BackgroundWhisper.for_models(speech_models)
    assert background.starts == 0 and background.pid is None  # nothing is loaded until a window comes
    try:
        granted = speech_models.whisper.scheduler.stats().classes[Priority.TAGGING].granted
        got = background.decode_window(audio, settings, previous=previous, priority=Priority.TAGGING)
        # The live streams' scheduler never saw it: a final cannot queue behind a window.
        assert speech_models.whisper.scheduler.stats().classes[Priority.TAGGING].granted == granted
        pid = background.pid
        threads = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
        if background.scheduling == "idle":  # refused in some containers; nice 19 is the fallback
            assert {os.sched_getscheduler(t) for t in threads} == {os.SCHED_IDLE}
        else:
            assert background.scheduling == "nice 19"
        # Same model files, same settings, same CTranslate2: the same tokens, not merely similar text.
        expected = speech_models.whisper.decode_window(audio, settings, previous=previous, priority=Priority.TAGGING)
        assert got == expected
        assert "city council" in got.segments[0].text.lower() and len(got.segments) == 2
        assert background.memory()["rss"] > 50 * 2**20  # a second model is really loaded there
    finally:
        background.close()
    assert background.pid is None and gone(pid)
    with pytest.raises(ModelError, match="stopped"):  # a closed one does not come back by itself
        background.decode_window(audio, settings)


def run_of(store, sentences):
    """A live run of the sentences twice (two windows' worth of speech), its finals stored as the live text."""
    run = store.records.open_run("cam", "rtsp://cam", live=True)
    speech, rows, t = [], [], 1.0
    for i, audio in enumerate(sentences * 2):
        speech.append(ClosedSpeech(run.id, "cam", t, audio, "en"))
        end = t + len(audio) / SAMPLE_RATE
        rows.append((CAPTION, run.id, "cam", t, end, run.wall(t), run.wall(end), f"live {i}", "{}"))
        t = end + 0.9
    return run, speech, store.records.append(rows)


class KilledInFirstWindow:
    """The box's background engine, whose child is frozen at the first window and killed while it waits for it."""

    def __init__(self, background: BackgroundWhisper) -> None:
        self.background = background
        self.killed: int | None = None

    def __getattr__(self, name):
        return getattr(self.background, name)

    def decode_window(self, audio, settings, **kwargs):
        if self.killed is None:
            self.killed = self.background.pid
            os.kill(self.killed, signal.SIGSTOP)  # it cannot answer this window: only the kill ends the call
            threading.Timer(0.5, os.kill, (self.killed, signal.SIGKILL)).start()
        return self.background.decode_window(audio, settings, **kwargs)


def test_a_child_killed_in_a_window_costs_that_window_only_and_a_new_child_polishes_the_next(
        tmp_path, speech_models, sentences):
    background = BackgroundWhisper.for_models(speech_models)
    background.decode_window(sentences[0], speech_models.profile.asr.offline)  # a child is running
    engine = KilledInFirstWindow(background)
    with AssetStore(tmp_path / "store") as store:
        run, speech, live = run_of(store, sentences)
        polisher = Polisher(store, engine, speech_models.profile.asr.offline,
                            live_vad=speech_models.profile.vad_settings,
                            offline_vad=speech_models.profile.offline_vad_settings)
        polisher.start()
        try:
            for s in speech:
                polisher.submit(s)
            store.records.close_run(run.id, "ended")
            assert polisher.drain(timeout=300)
        finally:
            polisher.stop()
        assert polisher.errors == 1 and background.starts == 2 and gone(engine.killed)
        polished = store.records.read(run=run.id, type=POLISHED, limit=None)
        replaced = [seq for p in polished for seq in p.data["replaces"]]
        # The first window's finals keep their live text; every later one is replaced once, by real speech.
        assert replaced and replaced == [r.seq for r in live if r.seq in replaced]
        assert live[0].seq not in replaced and live[-1].seq in replaced
        assert "emergency ward" in " ".join(p.text for p in polished)
        assert [r.text for r in store.records.read(run=run.id, type=CAPTION, limit=None)] == [r.text for r in live]
        assert polish_complete(store, run.id)


def test_stopping_the_polisher_kills_the_child_instead_of_waiting_for_its_window(
        tmp_path, speech_models, sentences, monkeypatch):
    monkeypatch.setattr("edge.asr.background.STOP_JOIN_S", 0.2)  # a frozen child ignores SIGTERM until killed
    background = BackgroundWhisper.for_models(speech_models)
    background.decode_window(sentences[0], speech_models.profile.asr.offline)
    pid = background.pid
    with AssetStore(tmp_path / "store") as store:
        run, speech, live = run_of(store, sentences)
        polisher = Polisher(store, background, speech_models.profile.asr.offline)
        os.kill(pid, signal.SIGSTOP)  # whatever window it is sent now, it never finishes by itself
        polisher.start()
        for s in speech:
            polisher.submit(s)
        store.records.close_run(run.id, "ended")
        assert not polisher.drain(timeout=1.0)  # the first window is in flight
        polisher.stop()
        assert gone(pid) and background.pid is None
        assert polisher.name not in [t.name for t in threading.enumerate()]  # its worker has ended too
        assert polisher.errors == 0  # killed on purpose: not a failure
        assert not store.records.read(run=run.id, type=POLISHED, limit=None)  # the live text stays
        assert len(store.records.read(run=run.id, type=CAPTION, limit=None)) == len(live)


def test_a_child_that_keeps_failing_is_given_up_after_a_few_tries(speech_models, tmp_path):
    missing = speech_models.profile.asr.engine.model_copy(update={"model": "no-such-whisper"})
    background = BackgroundWhisper(missing, speech_models.whisper, registry_root=tmp_path, max_failures=2)
    audio = np.zeros(SAMPLE_RATE, np.float32)
    for _ in range(2):
        with pytest.raises(ModelError, match="cannot load no-such-whisper"):
            background.decode_window(audio, speech_models.profile.asr.offline)
    with pytest.raises(ModelError, match="gave up after 2 failures"):
        background.decode_window(audio, speech_models.profile.asr.offline)
    assert background.starts == 2  # no third process
