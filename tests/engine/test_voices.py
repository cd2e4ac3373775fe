"""Voice tensors: every format round-trips, and every bad tensor is refused with a reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from voicelab.engine.voices import (
    VOICE_SHAPE,
    VoiceError,
    check_voice,
    interpolate,
    load_voice,
    population_std,
    save_voice,
    style_for,
)


@pytest.fixture
def voice() -> torch.Tensor:
    return torch.randn(VOICE_SHAPE, generator=torch.Generator().manual_seed(7)) * 0.15


@pytest.mark.parametrize("suffix", [".pt", ".npy", ".bin"])
def test_voice_round_trips(voice: torch.Tensor, tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"neutral{suffix}"
    save_voice(voice, path)
    loaded = load_voice(path)
    assert loaded.dtype == torch.float32 and tuple(loaded.shape) == VOICE_SHAPE
    assert torch.equal(loaded, voice)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left


def test_pt_is_a_plain_float_tensor(voice: torch.Tensor, tmp_path: Path) -> None:
    save_voice(voice, tmp_path / "v.pt")
    raw = torch.load(tmp_path / "v.pt", weights_only=True)
    assert isinstance(raw, torch.Tensor) and raw.dtype == torch.float32 and tuple(raw.shape) == VOICE_SHAPE


def test_npz_needs_a_key_when_it_holds_several_voices(voice: torch.Tensor, tmp_path: Path) -> None:
    path = tmp_path / "voices.npz"
    np.savez(path, ef_dora=voice.numpy(), em_alex=(voice * 2).numpy())
    assert torch.equal(load_voice(path, key="em_alex"), voice * 2)
    with pytest.raises(VoiceError, match="say which one"):
        load_voice(path)


def test_a_voice_without_the_batch_axis_is_accepted(voice: torch.Tensor) -> None:
    assert torch.equal(check_voice(voice.squeeze(1).numpy()), voice)


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (torch.zeros(511, 1, 256), "shape"),
        (torch.zeros(510, 256, 1), "shape"),
        (torch.zeros(VOICE_SHAPE, dtype=torch.int32), "int32"),
        (torch.full(VOICE_SHAPE, float("nan")), "NaN"),
    ],
)
def test_bad_tensors_are_refused(bad: torch.Tensor, reason: str) -> None:
    with pytest.raises(VoiceError, match=reason):
        check_voice(bad)


def test_bad_files_are_refused_with_a_reason(tmp_path: Path) -> None:
    (tmp_path / "short.bin").write_bytes(b"\0" * 100)
    torch.save({"not": "a tensor"}, tmp_path / "dict.pt")
    (tmp_path / "garbage.pt").write_bytes(b"not a torch file")
    (tmp_path / "voice.wav").write_bytes(b"RIFF")
    cases = {
        "missing.pt": "does not exist",
        "short.bin": "100 bytes",
        "dict.pt": "not a voice tensor",
        "garbage.pt": "not a readable voice file",
        "voice.wav": "are read from",
    }
    for name, reason in cases.items():
        with pytest.raises(VoiceError, match=reason):
            load_voice(tmp_path / name)


def test_style_row_follows_the_phoneme_count(voice: torch.Tensor) -> None:
    assert torch.equal(style_for(voice, 1), voice[0])
    assert torch.equal(style_for(voice, 42), voice[41])
    assert torch.equal(style_for(voice, 900), voice[509])  # longer than the pack: last row
    with pytest.raises(VoiceError):
        style_for(voice, 0)


def test_interpolation_follows_the_seed_formula(voice: torch.Tensor) -> None:
    other = -voice
    assert torch.allclose(interpolate(voice, other, 1.0), voice)
    assert torch.allclose(interpolate(voice, other, -1.0), other)
    assert torch.allclose(interpolate(voice, other, 0.0), torch.zeros(VOICE_SHAPE), atol=1e-7)
    assert torch.allclose(interpolate(voice, other, 1.5), 1.5 * voice)  # extrapolates past a


def test_population_std_is_per_element(voice: torch.Tensor) -> None:
    std = population_std([voice, voice + 1, voice + 2])
    assert tuple(std.shape) == VOICE_SHAPE and torch.allclose(std, torch.ones(VOICE_SHAPE))
