"""The run-time lookup of a models folder: which files a backend needs and what is missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from voicelab.engine.assets import ONNX_FILE, AssetError, MissingModelError, ModelAssets, require


def test_require_lists_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(MissingModelError) as error:
        require(tmp_path, need_torch=True)
    message = str(error.value)
    for relative in (ONNX_FILE, "config.json", "voices.npz", "voices/ef_dora.pt", "kokoro-v1_0.pth"):
        assert relative in message
    assert "run `python manage.py fetch_models`" in message
    assert error.value.missing == ModelAssets(tmp_path).missing(need_torch=True)


def test_a_voice_name_never_leaves_the_voices_folder(tmp_path: Path) -> None:
    assets = ModelAssets(tmp_path)
    assert assets.voice_path("ef_dora") == tmp_path / "voices" / "ef_dora.pt"
    for name in ("../config", "ef_dora.pt", "", "EF_DORA", "_hidden"):
        with pytest.raises(AssetError, match="is not a voice name"):
            assets.voice_path(name)
