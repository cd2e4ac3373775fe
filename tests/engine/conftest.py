"""Audio for the engine tests: real Spanish speech from espeak-ng, and synthetic signals.

espeak-ng is a formant synthesizer, so its speech has real syllables, pauses
and intonation while staying deterministic and fast to make.
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
from collections.abc import Callable
from functools import cache

import numpy as np
import pytest

from distillation.engine.audio import Audio, read_audio

GREETING = "Buenos días, gracias por llamar a nuestro servicio."


@pytest.fixture(scope="session")
def greeting_text() -> str:
    return GREETING


@pytest.fixture(scope="session")
def speak(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Audio]:
    """``speak(text, voice="es", speed=175, pitch=50, amplitude=100) -> Audio``, cached."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        pytest.skip("espeak-ng is not installed; these tests need it to make Spanish speech.")
    folder = tmp_path_factory.mktemp("espeak")
    numbers = itertools.count()

    @cache
    def make(
        text: str = GREETING, *, voice: str = "es", speed: int = 175, pitch: int = 50,
        amplitude: int = 100,
    ) -> Audio:
        path = folder / f"take{next(numbers)}.wav"
        command = [espeak, "-v", voice, "-s", str(speed), "-p", str(pitch), "-a", str(amplitude)]
        subprocess.run([*command, "-w", str(path), text], check=True, capture_output=True)
        return read_audio(path)

    return make


@pytest.fixture(scope="session")
def greeting(speak: Callable[..., Audio]) -> Audio:
    """The call-center greeting of the pipeline description, in the default voice."""
    return speak()


@pytest.fixture(scope="session")
def voiced_tone() -> Callable[..., np.ndarray]:
    """``voiced_tone(f0_start, f0_end=None, seconds=2.0, sample_rate=16000)``.

    A harmonic complex (ten partials with falling level, like a glottal source)
    whose fundamental glides linearly; Praat tracks it as a voice.
    """

    def make(
        f0_start: float, f0_end: float | None = None, seconds: float = 2.0,
        sample_rate: int = 16_000,
    ) -> np.ndarray:
        f0 = np.linspace(f0_start, f0_end or f0_start, round(seconds * sample_rate))
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

