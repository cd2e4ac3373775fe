"""The stock voices as a walk's candidate starts, each described once by its speaker embeddings.

Any Kokoro stock voice speaks Spanish phonemes, and on real recordings the nearest of all 54
is a much better start than the nearest of the three Spanish ones. Rendering 54 voices before
every walk would cost minutes on a CPU, so each voice is rendered once on ``INDEX_PHRASES`` and
its embeddings (resemblyzer, which the search climbs, and CAM++) are kept next to the models in
``stock_index.npz``. The file carries a key over the voices' contents, the phrases and the
encoders: when any of them changes the index is rebuilt. Choosing a start is then a lookup.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from voicelab.engine.assets import ModelAssets
from voicelab.engine.files import atomic_path
from voicelab.engine.judges import campp_embedding
from voicelab.engine.scoring import RenderMany, speaker_embedding
from voicelab.engine.voices import load_voice

INDEX_FILE = "stock_index.npz"
# Rendered by every stock voice; in neither the corpus, the scorer's texts nor Stage 3's phrases.
INDEX_PHRASES = (
    "Permítame un momento mientras reviso los datos de su contrato.",
    "Si lo prefiere, también puede escribirnos desde la aplicación.",
)
SAMPLE_RATE = 24_000
# Bump when what an embedding means changes (an encoder's input, a new encoder).
INDEX_VERSION = "1"

Progress = Callable[[int, int], None]  # (voices described so far, voices in all)


def stock_voices(assets: ModelAssets) -> dict[str, torch.Tensor]:
    """Every voice of the models folder, by name."""
    return {path.stem: load_voice(path) for path in sorted(assets.voices_dir.glob("*.pt"))}


def index_key(voices: Mapping[str, torch.Tensor]) -> str:
    """What the index was computed from: the voices' names and values, the phrases, the version."""
    digest = hashlib.sha256(f"{INDEX_VERSION}|{'|'.join(INDEX_PHRASES)}".encode())
    for name in sorted(voices):
        digest.update(name.encode())
        digest.update(voices[name].contiguous().numpy().tobytes())
    return digest.hexdigest()


@dataclass(frozen=True, eq=False)
class StockIndex:
    """Per voice and phrase, unit-length embeddings: ``resemblyzer`` [voices, phrases, 256] and
    ``campp`` [voices, phrases, 192]."""

    names: tuple[str, ...]
    resemblyzer: np.ndarray
    campp: np.ndarray
    key: str

    def voice(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """One voice's embeddings over all phrases (resemblyzer, CAM++), unit length."""
        i = self.names.index(name)
        return _unit(self.resemblyzer[i].mean(axis=0)), _unit(self.campp[i].mean(axis=0))

    def similarities(self, resemblyzer: np.ndarray, campp: np.ndarray) -> dict[str, tuple[float, float]]:
        """Each voice's (resemblyzer, CAM++) cosine to a target's embeddings."""
        result = {}
        for name in self.names:
            own_r, own_c = self.voice(name)
            result[name] = (float(own_r @ _unit(resemblyzer)), float(own_c @ _unit(campp)))
        return result

    def nearest(self, resemblyzer: np.ndarray, campp: np.ndarray, k: int) -> list[tuple[str, float]]:
        """The ``k`` voices nearest to a target, by the mean of the two encoders' cosines (on
        real recordings resemblyzer alone picks voices CAM++ finds far: the two together do not)."""
        ranked = sorted(
            ((name, (r + c) / 2) for name, (r, c) in self.similarities(resemblyzer, campp).items()),
            key=lambda item: item[1],
            reverse=True,
        )
        return ranked[:k]

    def save(self, path: Path) -> None:
        with atomic_path(path) as temp, open(temp, "wb") as stream:
            np.savez(
                stream,
                names=np.array(self.names),
                resemblyzer=self.resemblyzer,
                campp=self.campp,
                key=np.array(self.key),
            )

    @classmethod
    def load(cls, path: Path) -> StockIndex:
        with np.load(path, allow_pickle=False) as data:
            return cls(tuple(str(n) for n in data["names"]), data["resemblyzer"], data["campp"], str(data["key"]))


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / (np.linalg.norm(vector) + 1e-12)


def build_index(
    voices: Mapping[str, torch.Tensor], render: RenderMany, progress: Progress | None = None, *, batch: int = 2
) -> StockIndex:
    """Render every voice on ``INDEX_PHRASES`` and embed each rendering with both encoders;
    ``batch`` voices at a time (a pool renders them side by side)."""
    names = tuple(sorted(voices))
    progress = progress or (lambda done, total: None)
    resemblyzer, campp = [], []
    progress(0, len(names))
    for first in range(0, len(names), batch):
        chunk = [voices[name] for name in names[first : first + batch]]
        renderings = [render(phrase, chunk) for phrase in INDEX_PHRASES]  # [phrase][voice]
        for audios in zip(*renderings, strict=True):
            resemblyzer.append([speaker_embedding(audio, SAMPLE_RATE) for audio in audios])
            campp.append([campp_embedding(audio, SAMPLE_RATE) for audio in audios])
        progress(len(resemblyzer), len(names))
    return StockIndex(names, np.array(resemblyzer, np.float32), np.array(campp, np.float32), index_key(voices))


def stock_index(
    assets: ModelAssets,
    render: RenderMany,
    progress: Progress | None = None,
    *,
    batch: int = 2,
    voices: Mapping[str, torch.Tensor] | None = None,
) -> StockIndex:
    """The models folder's index, rebuilt (and saved) when the voices changed since it was made;
    ``voices``: the folder's stock voices when the caller has read them already."""
    voices = voices if voices is not None else stock_voices(assets)
    path = assets.root / INDEX_FILE
    if path.is_file():
        try:
            index = StockIndex.load(path)
        except (OSError, ValueError, KeyError):  # unreadable: made again like a stale one
            index = None
        if index is not None and index.key == index_key(voices):
            return index
    index = build_index(voices, render, progress, batch=batch)
    index.save(path)
    return index
