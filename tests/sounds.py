"""Audio files made in memory for tests."""

from __future__ import annotations

import io

import numpy as np
import soundfile as sf


def wav_bytes(samples: np.ndarray, rate: int, subtype: str = "PCM_16") -> bytes:
    """``samples`` as the bytes of a WAV file."""
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format="WAV", subtype=subtype)
    return buffer.getvalue()
