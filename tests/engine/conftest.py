"""Synthetic signals for the engine tests (espeak-ng speech comes from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from voicelab.engine.audio import Audio


@pytest.fixture(scope="session")
def voiced_tone() -> Callable[..., np.ndarray]:
    """``voiced_tone(*f0_points, seconds=2.0, sample_rate=16000)``.

    A harmonic complex (ten partials with falling level, like a glottal source)
    whose fundamental moves linearly between the given points, spread evenly
    over the clip; Praat tracks it as a voice.
    """

    def make(*f0_points: float, seconds: float = 2.0, sample_rate: int = 16_000) -> np.ndarray:
        length = round(seconds * sample_rate)
        f0 = np.interp(np.arange(length), np.linspace(0, length - 1, len(f0_points)), f0_points)
        phase = 2 * np.pi * np.cumsum(f0) / sample_rate
        partials = sum(np.sin(k * phase) / k for k in range(1, 11))
        return (0.3 * partials / np.abs(partials).max()).astype(np.float32)

    return make


@pytest.fixture
def as_audio() -> Callable[[np.ndarray, int], Audio]:
    """Wrap samples as if they had been read from a mono WAV file."""

    def wrap(samples: np.ndarray, sample_rate: int) -> Audio:
        return Audio(samples.astype(np.float32), sample_rate, channels=1, format="WAV")

    return wrap
