"""The stock voices' index: nearest voices by lookup, rebuilt when the voices change."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from voicelab.engine.assets import ModelAssets
from voicelab.engine.scoring import Target, each
from voicelab.engine.start import StartError, nearest_voices
from voicelab.engine.stock import INDEX_FILE, stock_index
from voicelab.engine.voices import save_voice


@pytest.fixture
def small_models(kokoro_assets, tmp_path: Path) -> ModelAssets:
    """A models folder with two stock voices (the model files linked, not copied)."""
    root = tmp_path / "models"
    (root / "voices").mkdir(parents=True)
    for name in ("ef_dora", "em_alex"):
        shutil.copy(kokoro_assets.voice_path(name), root / "voices" / f"{name}.pt")
    return ModelAssets(root)


def test_the_index_is_built_once_and_rebuilt_when_the_voices_change(
    small_models: ModelAssets, onnx_synthesizer, stock_voice: Callable
) -> None:
    render = each(onnx_synthesizer.synthesize)
    progress: list[tuple[int, int]] = []
    first = stock_index(small_models, render, lambda done, total: progress.append((done, total)), batch=1)
    assert first.names == ("ef_dora", "em_alex") and first.campp.shape == (2, 2, 192)
    assert progress == [(0, 2), (1, 2), (2, 2)]
    assert (small_models.root / INDEX_FILE).is_file()

    def fail(*args: object) -> None:
        raise AssertionError("an unchanged index is not rendered again")

    assert stock_index(small_models, fail).key == first.key
    save_voice(stock_voice("em_santa"), small_models.voice_path("em_santa"))  # a voice was added
    rebuilt = stock_index(small_models, render)
    assert rebuilt.names == ("ef_dora", "em_alex", "em_santa") and rebuilt.key != first.key
    np.testing.assert_allclose(rebuilt.campp[:2], first.campp, atol=1e-5)  # the same voices, the same figures
    save_voice(stock_voice("em_alex") * 1.01, small_models.voice_path("em_alex"))  # a voice was altered
    assert stock_index(small_models, render).key != rebuilt.key
    (small_models.root / INDEX_FILE).write_bytes(b"not an index")  # damaged: made again, not a crash
    assert stock_index(small_models, render).names == ("ef_dora", "em_alex", "em_santa")


def test_the_nearest_voices_of_a_stock_voice_start_with_itself(
    stock_index, onnx_synthesizer, stock_voice: Callable
) -> None:
    audio = onnx_synthesizer.synthesize("Buenos días, gracias por llamar a nuestro servicio.", stock_voice("af_heart"))
    target = Target.from_audio(audio, 24_000)
    nearest = nearest_voices(stock_index, target, among=stock_index.names, k=3)
    assert len(stock_index.names) == 54 and nearest[0][0] == "af_heart"
    among = [name for name in stock_index.names if name != "af_heart"]
    assert "af_heart" not in dict(nearest_voices(stock_index, target, among=among, k=3))
    with pytest.raises(StartError, match="xx_nobody"):
        nearest_voices(stock_index, target, among=["xx_nobody"], k=1)
