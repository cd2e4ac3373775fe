"""Kokoro voice tensors: loading, checking, saving, row selection and interpolation.

A voice ("voicepack") is a float32 tensor of shape [510, 1, 256]: one 256-d style
vector per utterance length, where an utterance of n phonemes uses row n - 1.
The deploy stage ships voices as ``.pt``; stock voices also come as raw ``.bin``
(kokoro-js) and numpy ``.npy``/``.npz`` (kokoro-onnx).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from voicelab.engine.errors import EngineError
from voicelab.engine.files import atomic_path
from voicelab.engine.messages import Message

VOICE_SHAPE = (510, 1, 256)
MAX_PHONEMES = VOICE_SHAPE[0]
STYLE_DIM = VOICE_SHAPE[2]
VOICE_SUFFIXES = (".pt", ".npy", ".npz", ".bin")


class VoiceError(EngineError):
    """A voice file or tensor that cannot be used; the message says why."""


def check_voice(voice: torch.Tensor | np.ndarray, *, source: str = "voice") -> torch.Tensor:
    """Return ``voice`` as a contiguous float32 tensor [510, 1, 256], or raise VoiceError."""
    tensor = torch.as_tensor(np.asarray(voice) if isinstance(voice, np.ndarray) else voice)
    if tuple(tensor.shape) == (VOICE_SHAPE[0], VOICE_SHAPE[2]):
        tensor = tensor.unsqueeze(1)  # some exports drop the batch axis
    if tuple(tensor.shape) != VOICE_SHAPE:
        raise VoiceError(
            Message(
                "{source} has shape {shape}; a Kokoro voice is {expected}.",
                {"source": source, "shape": str(list(tensor.shape)), "expected": str(list(VOICE_SHAPE))},
            )
        )
    if not tensor.is_floating_point():
        raise VoiceError(
            Message(
                "{source} holds {kind} values; a Kokoro voice holds floats.",
                {"source": source, "kind": str(tensor.dtype)},
            )
        )
    tensor = tensor.to(torch.float32).contiguous()
    if not torch.isfinite(tensor).all():
        raise VoiceError(Message("{source} contains NaN or infinite values.", {"source": source}))
    return tensor


def load_voice(path: str | Path, *, key: str | None = None) -> torch.Tensor:
    """Read a voice from ``.pt``, ``.npy``, ``.npz`` (``key`` names the voice) or raw ``.bin``."""
    path = Path(path)
    if not path.is_file():
        raise VoiceError(Message("Voice file {path} does not exist.", {"path": str(path)}))
    loaders = {".pt": _load_pt, ".npy": _load_npy, ".npz": lambda p: _load_npz(p, key), ".bin": _load_bin}
    loader = loaders.get(path.suffix.lower())
    if loader is None:
        raise VoiceError(
            Message(
                "{name}: voices are read from {suffixes} files.",
                {"name": path.name, "suffixes": ", ".join(VOICE_SUFFIXES)},
            )
        )
    try:
        raw = loader(path)
    except VoiceError:
        raise
    except Exception as exc:  # noqa: BLE001 - every reader has its own error types
        raise VoiceError(
            Message("{name} is not a readable voice file: {reason}", {"name": path.name, "reason": str(exc)})
        ) from None
    return check_voice(raw, source=path.name)


def _load_pt(path: Path) -> torch.Tensor:
    # weights_only: a .pt from elsewhere must not be able to run code when loaded.
    value = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(value, torch.Tensor):
        raise VoiceError(
            Message("{name} holds a {kind}, not a voice tensor.", {"name": path.name, "kind": type(value).__name__})
        )
    return value


def _load_npy(path: Path) -> np.ndarray:
    return np.load(path, allow_pickle=False)


def _load_npz(path: Path, key: str | None) -> np.ndarray:
    with np.load(path, allow_pickle=False) as archive:
        names = list(archive.keys())
        name = key or (names[0] if len(names) == 1 else None)
        if name not in names:
            raise VoiceError(
                Message("{name} holds voices {voices}: say which one.", {"name": path.name, "voices": ", ".join(names)})
            )
        return archive[name]


def _load_bin(path: Path) -> np.ndarray:
    expected = int(np.prod(VOICE_SHAPE)) * 4
    if path.stat().st_size != expected:
        raise VoiceError(
            Message(
                "{name} is {size} bytes; a raw voice is {expected}.",
                {"name": path.name, "size": path.stat().st_size, "expected": expected},
            )
        )
    return np.fromfile(path, dtype="<f4").reshape(VOICE_SHAPE)


def save_voice(voice: torch.Tensor, path: str | Path) -> None:
    """Save a checked voice; ``.pt`` is a plain FloatTensor, written atomically."""
    voice = check_voice(voice)
    path = Path(path)
    if path.suffix not in {".pt", ".npy", ".bin"}:
        raise VoiceError(Message("{name}: voices are saved as .pt, .npy or .bin.", {"name": path.name}))
    with atomic_path(path) as temp:
        if path.suffix == ".pt":
            _torch_save(voice.clone(), temp)
        elif path.suffix == ".npy":
            np.save(temp, voice.numpy())
        else:
            voice.numpy().astype("<f4").tofile(temp)


def _torch_save(value: object, path: Path) -> None:
    """``torch.save`` through a file object: the archive inside is then always named
    "archive", not after the (temporary) file, so equal tensors give equal bytes."""
    with open(path, "wb") as stream:
        torch.save(value, stream)


def style_for(voice: torch.Tensor, phoneme_count: int) -> torch.Tensor:
    """The style row Kokoro uses for an utterance of ``phoneme_count`` phonemes: [1, 256]."""
    if phoneme_count < 1:
        raise VoiceError("An utterance needs at least one phoneme.")
    return voice[min(phoneme_count, MAX_PHONEMES) - 1]


def interpolate(a: torch.Tensor, b: torch.Tensor, alpha: float) -> torch.Tensor:
    """The seed's interpolation ``(a+b)/2 + (a-b)*alpha/2``: alpha=1 gives a, -1 gives b,
    and |alpha| > 1 extrapolates past either voice."""
    return (a + b) / 2 + (a - b) * (alpha / 2)


def population_std(voices: list[torch.Tensor]) -> torch.Tensor:
    """Per-element standard deviation across voices: the random walk's mutation scale."""
    return torch.stack(voices).std(dim=0)
