"""Shared fixtures: the real drafting model is loaded once per test session (it takes seconds to load)."""

from __future__ import annotations

import pytest

from edge.drafts.extract import Segment

FLOOD = [
    "Good morning everyone, thank you for coming.",
    "The flood wall on the east bank held overnight, said Mayor Ana Ruiz.",
    "Water reached 4.2 metres at the gauge on Tuesday and thirty homes in Riverside were evacuated.",
    "We have opened two shelters at the high school and the library.",
    "Nobody was hurt, and crews will inspect the wall again at noon.",
]


def segments(texts: list[str], *, run: str = "r1", stream: str = "cam", origin: float = 1_700_000_000.0,
             step: float = 4.0) -> list[Segment]:
    return [Segment(i + 1, run, stream, i * step, i * step + step, origin + i * step, origin + i * step + step, t)
            for i, t in enumerate(texts)]


@pytest.fixture(scope="session")
def llm():
    """The profile's real model (SmolLM2-135M-Instruct through OpenVINO GenAI), f32 stated in the profile."""
    from edge.drafts.model import load_llm
    from edge.profiles import load_profile

    choice = load_profile("x86-cpu").llm
    model, error, info = load_llm(choice)
    if model is None:
        pytest.fail(f"the drafting model is not provisioned: {error} (run 'make setup')")
    return model, info
