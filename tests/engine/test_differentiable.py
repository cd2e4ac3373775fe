"""The gradient's encoders reproduce the originals: resemblyzer, Kaldi filterbanks and CAM++."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch

from voicelab.engine import differentiable, judges
from voicelab.engine.scoring import speaker_embedding

PHRASE = "Buenos días, le habla el servicio de atención al cliente."


@pytest.fixture(scope="module")
def renderings(onnx_synthesizer, stock_voice: Callable) -> dict[str, np.ndarray]:
    return {name: onnx_synthesizer.synthesize(PHRASE, stock_voice(name)) for name in ("em_santa", "af_heart")}


def test_the_resemblyzer_embedding_matches_resemblyzers_own(renderings: dict) -> None:
    for audio in renderings.values():
        ours = differentiable.resemblyzer_embedding(torch.from_numpy(audio)).detach().numpy()
        assert float(ours @ speaker_embedding(audio, 24_000)) >= 0.99


def test_the_filterbank_matches_kaldi_native_fbank(renderings: dict) -> None:
    wav16 = judges._at_16k(renderings["em_santa"], 24_000)
    ours = differentiable.kaldi_fbank(torch.from_numpy(wav16)).numpy()
    reference = judges._fbank(wav16)  # kaldi-native-fbank, less its mean
    assert ours.shape == reference.shape
    assert np.abs((ours - ours.mean(axis=0)) - reference).max() < 1e-2


def test_the_campp_embedding_matches_the_judges(renderings: dict) -> None:
    for audio in renderings.values():
        ours = differentiable.campp_embedding(torch.from_numpy(audio)).detach().numpy()
        assert float(ours @ judges.campp_embedding(audio, 24_000)) >= 0.99


def test_gradients_reach_the_audio(renderings: dict) -> None:
    audio = torch.from_numpy(renderings["af_heart"]).requires_grad_(True)
    target = torch.from_numpy(judges.campp_embedding(renderings["em_santa"], 24_000))
    similarity = differentiable.campp_embedding(audio) @ target + differentiable.resemblyzer_embedding(audio)[0]
    similarity.backward()
    assert audio.grad is not None and torch.isfinite(audio.grad).all() and audio.grad.abs().sum() > 0
