"""The speaker encoders as differentiable functions of 24 kHz audio, for the gradient search.

Kokoro's torch forward is differentiable with respect to the style row (``TorchSynthesizer.forward``
run with gradients: durations are rounded, so only the pitch/energy curves and the decoder carry
gradients, which is enough). These two make the speaker similarity differentiable after it:

- **resemblyzer**, as ``preprocess_wav`` + ``embed_utterance`` do it: resampling to 16 kHz, the
  volume gain (increase only), the long-silence trim (its VAD decided on the detached audio, then
  applied as a fixed selection), librosa's mel spectrogram over ``torch.stft`` with librosa's own
  filterbank as a constant, and resemblyzer's own ``VoiceEncoder`` over its partial slices.
- **CAM++**, with Kaldi's filterbank computed in torch (povey window, pre-emphasis, DC removal,
  Kaldi's mel bins), less its mean, into the judge's own model.

Both are checked against the non-differentiable originals in the tests (cosine >= 0.99).
"""

from __future__ import annotations

import math
import struct
from functools import cache

import librosa
import numpy as np
import torch
from scipy.ndimage import binary_dilation

from voicelab.engine.judges import FBANK_BINS, campp_model
from voicelab.engine.scoring import resemblyzer_encoder

SOURCE_RATE = 24_000  # Kokoro's
RATE = 16_000  # both encoders'


def resample(audio: torch.Tensor, source: int = SOURCE_RATE, rate: int = RATE) -> torch.Tensor:
    """Band-limited resampling by cutting the spectrum (differentiable, exact for periodic signals)."""
    n = audio.shape[-1]
    m = math.ceil(n * rate / source)
    spectrum = torch.fft.rfft(audio, n=n)[..., : m // 2 + 1]
    return torch.fft.irfft(spectrum, n=m) * (m / n)


# ---- resemblyzer ---------------------------------------------------------------------------------


@cache
def _mel_basis() -> torch.Tensor:
    return torch.from_numpy(librosa.filters.mel(sr=RATE, n_fft=400, n_mels=40)).float()


def _speech_mask(wav: np.ndarray) -> np.ndarray:
    """Which samples resemblyzer's ``trim_long_silences`` keeps (of ``wav`` cut to whole VAD windows)."""
    import webrtcvad
    from resemblyzer import hparams

    window = hparams.vad_window_length * RATE // 1000
    wav = wav[: len(wav) - len(wav) % window]
    pcm = struct.pack(f"{len(wav)}h", *np.round(np.clip(wav, -1, 1) * 32767).astype(np.int16))
    vad = webrtcvad.Vad(mode=3)
    flags = np.array(
        [vad.is_speech(pcm[i * 2 : (i + window) * 2], sample_rate=RATE) for i in range(0, len(wav), window)]
    )
    width = hparams.vad_moving_average_width
    padded = np.concatenate((np.zeros((width - 1) // 2), flags, np.zeros(width // 2)))
    moving = np.cumsum(padded, dtype=float)
    moving[width:] = moving[width:] - moving[:-width]
    mask = np.round(moving[width - 1 :] / width).astype(bool)
    mask = binary_dilation(mask, np.ones(hparams.vad_max_silence_length + 1))
    return np.repeat(mask, window)


def _resemblyzer_input(audio24: torch.Tensor) -> torch.Tensor:
    from resemblyzer import hparams

    wav = resample(audio24)
    dbfs = 10 * torch.log10(torch.mean(wav**2) + 1e-12)
    gain = hparams.audio_norm_target_dBFS - dbfs
    if float(gain.detach()) > 0:  # resemblyzer only ever raises the level
        wav = wav * 10 ** (gain / 20)
    keep = torch.from_numpy(np.nonzero(_speech_mask(wav.detach().numpy()))[0])
    return wav[keep] if len(keep) else wav


def resemblyzer_embedding(audio24: torch.Tensor) -> torch.Tensor:
    """resemblyzer's 256-d utterance embedding of 24 kHz audio, unit length, with gradients."""
    encoder = resemblyzer_encoder()
    wav = _resemblyzer_input(audio24)
    wav_slices, mel_slices = encoder.compute_partial_slices(len(wav), 1.3, 0.75)
    if wav_slices[-1].stop >= len(wav):
        wav = torch.nn.functional.pad(wav, (0, wav_slices[-1].stop - len(wav)))
    spectrum = torch.stft(
        wav, 400, 160, 400, window=torch.hann_window(400), center=True, pad_mode="constant", return_complex=True
    )
    mel = (_mel_basis() @ spectrum.abs() ** 2).T  # [frames, 40]
    partial = encoder(torch.stack([mel[s] for s in mel_slices]))
    raw = partial.mean(dim=0)
    return raw / raw.norm()


# ---- CAM++ ---------------------------------------------------------------------------------------

FRAME, SHIFT, FFT = 400, 160, 512  # 25 ms, 10 ms, next power of two
PREEMPHASIS = 0.97
LOW_HZ = 20.0


def _mel(hz: np.ndarray | float) -> np.ndarray:
    return 1127.0 * np.log(1.0 + np.asarray(hz) / 700.0)


@cache
def _kaldi_mel_banks() -> torch.Tensor:
    """Kaldi's triangular mel filters over the first FFT/2 bins: [80, 256]."""
    bins = FFT // 2
    low, high = _mel(LOW_HZ), _mel(RATE / 2)
    delta = (high - low) / (FBANK_BINS + 1)
    mel = _mel(np.arange(bins) * RATE / FFT)
    left = low + np.arange(FBANK_BINS)[:, None] * delta
    center, right = left + delta, left + 2 * delta
    rising, falling = (mel - left) / (center - left), (right - mel) / (right - center)
    banks = np.where((mel > left) & (mel < right), np.where(mel <= center, rising, falling), 0.0)
    return torch.from_numpy(banks).float()


def kaldi_fbank(wav16: torch.Tensor) -> torch.Tensor:
    """Kaldi's 80-bin log filterbank (dither 0, snip edges), as kaldi-native-fbank computes it."""
    frames = wav16.unfold(0, FRAME, SHIFT)  # [frames, 400]
    frames = frames - frames.mean(dim=1, keepdim=True)
    previous = torch.cat([frames[:, :1], frames[:, :-1]], dim=1)
    frames = frames - PREEMPHASIS * previous
    povey = (0.5 - 0.5 * torch.cos(2 * math.pi * torch.arange(FRAME) / (FRAME - 1))) ** 0.85
    power = torch.fft.rfft(frames * povey, n=FFT).abs() ** 2
    energies = power[:, : FFT // 2] @ _kaldi_mel_banks().T
    return torch.log(torch.clamp(energies, min=torch.finfo(torch.float32).eps))


def campp_embedding(audio24: torch.Tensor) -> torch.Tensor:
    """CAM++'s 192-d embedding of 24 kHz audio, unit length, with gradients."""
    features = kaldi_fbank(resample(audio24))
    embedding = campp_model()((features - features.mean(dim=0))[None])[0]
    return embedding / embedding.norm()


ENCODERS = {"resemblyzer": resemblyzer_embedding, "campp": campp_embedding}
