"""The scheduler owns the inference cores: most urgent class first, oldest first
within a class; long jobs give the cores back between steps; a failing job
never keeps its slot."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from edge.runtime.scheduler import Priority, Scheduler

P = Priority


def _wait_until(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.002)


class _Queue:
    """Threads that each ask for a slot, started one after another in a known order."""

    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler
        self.order: list[str] = []
        self.threads: list[threading.Thread] = []

    def ask(self, name: str, priority: Priority) -> None:
        before = self.scheduler.stats().waiting

        def work() -> None:
            with self.scheduler.slot(priority):
                self.order.append(name)

        thread = threading.Thread(target=work)
        thread.start()
        self.threads.append(thread)
        _wait_until(lambda: self.scheduler.stats().waiting == before + 1)  # queued before the next one asks

    def join(self) -> None:
        for thread in self.threads:
            thread.join(5)
            assert not thread.is_alive()


def _hold_until(scheduler: Scheduler, release: threading.Event, priority: Priority = P.CAPTION_FINAL) -> threading.Thread:
    granted = threading.Event()

    def holder() -> None:
        with scheduler.slot(priority):
            granted.set()
            release.wait(5)

    thread = threading.Thread(target=holder)
    thread.start()
    assert granted.wait(5)
    return thread


def test_waiting_work_is_served_most_urgent_class_first_then_oldest_first():
    scheduler = Scheduler()
    release = threading.Event()
    holder = _hold_until(scheduler, release, P.GENERATION)
    queue = _Queue(scheduler)
    for name, priority in [("draft", P.GENERATION), ("partial-a", P.CAPTION_PARTIAL), ("ocr", P.VISION),
                           ("final-a", P.CAPTION_FINAL), ("tags", P.TAGGING), ("partial-b", P.CAPTION_PARTIAL),
                           ("final-b", P.CAPTION_FINAL)]:
        queue.ask(name, priority)

    release.set()
    holder.join(5)
    queue.join()

    assert queue.order == ["final-a", "final-b", "partial-a", "partial-b", "ocr", "tags", "draft"]


def test_jobs_of_one_class_are_served_in_arrival_order():
    scheduler = Scheduler()
    release = threading.Event()
    holder = _hold_until(scheduler, release, P.VISION)
    queue = _Queue(scheduler)
    names = [f"frame-{i}" for i in range(8)]
    for name in names:
        queue.ask(name, P.VISION)

    release.set()
    holder.join(5)
    queue.join()

    assert queue.order == names


def test_a_job_that_raises_releases_its_slot_and_the_error_reaches_the_caller():
    scheduler = Scheduler()

    with pytest.raises(RuntimeError, match="decoder crashed"):
        with scheduler.slot(P.CAPTION_FINAL):
            raise RuntimeError("decoder crashed")

    done = threading.Event()
    threading.Thread(target=lambda: scheduler.run(P.GENERATION, done.set)).start()
    assert done.wait(2), "the slot stayed taken after the failure"
    stats = scheduler.stats().classes
    assert stats[P.CAPTION_FINAL].running == 0 and stats[P.CAPTION_FINAL].granted == 1


def test_run_returns_the_result_of_the_call():
    scheduler = Scheduler()

    assert scheduler.run(P.TAGGING, divmod, 17, 5) == (3, 2)


def test_a_failing_step_of_a_long_job_releases_the_slot():
    scheduler = Scheduler()

    def steps():
        yield 1
        raise ValueError("out of memory in step 2")

    with pytest.raises(ValueError, match="step 2"):
        list(scheduler.steps(P.GENERATION, steps()))

    assert scheduler.run(P.CAPTION_FINAL, lambda: "free") == "free"


def test_a_long_job_gives_the_cores_to_urgent_work_between_steps():
    scheduler = Scheduler()
    log: list[str] = []
    step_s = 0.03

    def generate():
        for i in range(40):
            time.sleep(step_s)  # one token's worth of work, holding the slot
            log.append(f"token-{i}")
            yield i

    background = threading.Thread(target=lambda: list(scheduler.steps(P.GENERATION, generate())))
    background.start()
    _wait_until(lambda: len(log) >= 3)

    asked = time.monotonic()
    scheduler.run(P.CAPTION_FINAL, log.append, "final")
    waited = time.monotonic() - asked
    background.join(10)

    # The final got in between two tokens, not after the whole job.
    at = log.index("final")
    assert 3 <= at < 10 and log[-1] == "token-39"
    assert waited < 3 * step_s
    assert scheduler.stats().classes[P.CAPTION_FINAL].max_wait_s < 3 * step_s


def test_yield_point_gives_the_slot_only_to_more_urgent_work():
    scheduler = Scheduler()
    queue = _Queue(scheduler)
    yielded: list[bool] = []
    started = threading.Event()
    proceed = threading.Event()
    partial_queued = threading.Event()

    def long_job() -> None:
        with scheduler.slot(P.TAGGING) as lease:
            started.set()
            proceed.wait(5)
            yielded.append(lease.yield_point())  # only equal or less urgent work waits: keep going
            queue.order.append("tagging step 2")
            partial_queued.wait(5)
            yielded.append(lease.yield_point())
            queue.order.append("tagging step 3")

    job = threading.Thread(target=long_job)
    job.start()
    assert started.wait(5)
    queue.ask("other tagging", P.TAGGING)
    queue.ask("draft", P.GENERATION)
    proceed.set()
    _wait_until(lambda: "tagging step 2" in queue.order)
    queue.ask("partial", P.CAPTION_PARTIAL)
    partial_queued.set()
    job.join(5)
    queue.join()

    assert yielded == [False, True]
    # The yielding job kept its age: it went on before the younger job of its own class.
    assert queue.order == ["tagging step 2", "partial", "tagging step 3", "other tagging", "draft"]
    assert scheduler.stats().classes[P.TAGGING].yields == 1


def test_after_a_release_less_urgent_work_waits_briefly_for_the_same_class_to_come_back():
    scheduler = Scheduler(linger_s=0.2)
    release = threading.Event()
    holder = _hold_until(scheduler, release, P.CAPTION_PARTIAL)
    queue = _Queue(scheduler)
    queue.ask("draft", P.GENERATION)

    release.set()
    holder.join(5)
    scheduler.run(P.CAPTION_FINAL, queue.order.append, "alignment")  # the next link of a caption chain
    queue.join()

    assert queue.order == ["alignment", "draft"]
    assert scheduler.stats().classes[P.GENERATION].max_wait_s >= 0.2


def test_linger_holds_back_only_other_threads_less_urgent_work_and_ends_by_itself():
    scheduler = Scheduler(linger_s=0.6)  # long, so that a loaded machine's delays cannot blur it

    def timed(priority: Priority) -> float:
        t0 = time.monotonic()
        scheduler.run(priority, lambda: None)
        return time.monotonic() - t0

    def timed_elsewhere(priority: Priority) -> float:
        result: list[float] = []
        thread = threading.Thread(target=lambda: result.append(timed(priority)))
        thread.start()
        thread.join(5)
        return result[0]

    timed(P.GENERATION)
    assert timed_elsewhere(P.CAPTION_FINAL) < 0.3  # more urgent than the releaser: never held back
    assert 0.45 < timed_elsewhere(P.CAPTION_PARTIAL) < 2.0  # another thread, less urgent: waits, not forever

    timed(P.CAPTION_FINAL)
    assert timed(P.CAPTION_PARTIAL) < 0.3  # the releasing thread's own next link goes at once
    assert timed(P.GENERATION) < 0.3


def test_only_slots_holders_run_at_once():
    scheduler = Scheduler(slots=2)
    running = 0
    peak = 0
    lock = threading.Lock()

    def job() -> None:
        nonlocal running, peak
        with scheduler.slot(P.VISION):
            with lock:
                running += 1
                peak = max(peak, running)
            time.sleep(0.02)
            with lock:
                running -= 1

    threads = [threading.Thread(target=job) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)

    assert peak == 2
    assert scheduler.stats().classes[P.VISION].granted == 8


def test_stats_report_queue_depth_waits_and_busy_time_per_class():
    scheduler = Scheduler()
    release = threading.Event()
    holder = _hold_until(scheduler, release, P.VISION)
    queue = _Queue(scheduler)
    queue.ask("a", P.CAPTION_PARTIAL)
    queue.ask("b", P.CAPTION_PARTIAL)

    during = scheduler.stats()
    time.sleep(0.05)
    release.set()
    holder.join(5)
    queue.join()
    after = scheduler.stats()

    assert during.classes[P.CAPTION_PARTIAL].waiting == 2 and during.classes[P.VISION].running == 1
    assert after.classes[P.CAPTION_PARTIAL].waiting == 0 and after.classes[P.CAPTION_PARTIAL].waited == 2
    assert after.classes[P.CAPTION_PARTIAL].max_wait_s >= 0.05
    assert after.classes[P.VISION].busy_s >= 0.05
    assert after.to_json()["classes"]["caption_partial"]["granted"] == 2


def test_asking_again_while_holding_a_slot_is_refused_instead_of_deadlocking():
    scheduler = Scheduler()

    with scheduler.slot(P.VISION):
        with pytest.raises(RuntimeError, match="already holds"):
            with scheduler.slot(P.CAPTION_FINAL):
                pass

    assert scheduler.run(P.VISION, lambda: 1) == 1


def test_a_scheduler_needs_a_slot():
    with pytest.raises(ValueError):
        Scheduler(slots=0)


# -- with the real Whisper model ------------------------------------------------------


@pytest.fixture(scope="module")
def speech_models():
    from edge.asr.models import SpeechModels
    from edge.profiles import load_profile

    scheduler = Scheduler()
    return SpeechModels.load(load_profile("x86-cpu"), scheduler=scheduler), scheduler


def test_speech_models_run_whisper_through_the_box_scheduler(speech_models):
    from tests.conftest import SENTENCES, speak

    models, scheduler = speech_models
    assert models.scheduler is scheduler
    before = scheduler.stats().classes
    settings = models.profile.asr.streaming

    audio = speak(SENTENCES[0])
    final = models.whisper.decode(audio, settings.final)
    partial = models.whisper.decode(audio, settings.partial, urgent=False)
    ends = models.whisper.word_ends(audio, final.tokens, settings.final)

    after = scheduler.stats().classes
    assert final.text.strip() and partial.text.strip() and len(ends) == len(models.whisper.words(final.tokens))
    assert after[P.CAPTION_FINAL].granted - before[P.CAPTION_FINAL].granted == 2  # the final and its alignment
    assert after[P.CAPTION_PARTIAL].granted - before[P.CAPTION_PARTIAL].granted == 1
    assert after[P.CAPTION_FINAL].busy_s > before[P.CAPTION_FINAL].busy_s


def test_a_final_waits_at_most_about_one_step_of_a_background_job(speech_models):
    from tests.conftest import SENTENCES, speak

    models, shared = speech_models
    scheduler = models.whisper.scheduler = Scheduler()  # counters of this test alone
    audio = speak(SENTENCES[1])
    settings = models.profile.asr.streaming.final
    stop = threading.Event()
    x = np.random.default_rng(0).standard_normal(1 << 17, dtype=np.float32)
    step_s = 0.02

    def burn():
        while not stop.is_set():
            # Element-wise numpy, not a BLAS product: OpenBLAS threads spin and
            # crawl when the machine is oversubscribed.
            deadline = time.perf_counter() + step_s
            while time.perf_counter() < deadline:
                np.tanh(x, out=x)
                np.multiply(x, 2.0, out=x)
            yield

    background = threading.Thread(target=lambda: [None for _ in scheduler.steps(P.GENERATION, burn())])
    background.start()
    texts = []
    try:
        for _ in range(3):
            time.sleep(0.15)  # the background job has the cores again when the final arrives
            texts.append(models.whisper.decode(audio, settings).text)
    finally:
        stop.set()
        background.join(10)
        models.whisper.scheduler = shared

    stats = scheduler.stats().classes
    assert stats[P.GENERATION].granted > 5  # the background job really ran, between the finals
    assert stats[P.CAPTION_FINAL].granted == 3 and stats[P.CAPTION_FINAL].waited >= 1
    # A step (20 ms) and change, never a queue of steps. Wall-clock decode times
    # are not compared: on a shared machine other processes swamp the difference.
    assert stats[P.CAPTION_FINAL].max_wait_s < 0.15
    assert len(set(texts)) == 1 and texts[0].strip()  # same audio, same answer, background or not


