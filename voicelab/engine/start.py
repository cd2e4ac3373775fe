"""Where a voice search starts: the stock voices nearest to the reference, and blends of them.

The stock index (``stock.py``) holds every stock voice's embeddings, so the ``k`` nearest to
the reference are a lookup; the candidates are those ``k`` and every pair's interpolation
``(a+b)/2 + (a-b)*alpha/2`` at a few alphas. Only these are rendered and scored (a dozen, not
the whole stock), and the best becomes the start.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations

import torch

from voicelab.engine.errors import EngineError
from voicelab.engine.messages import Message
from voicelab.engine.scoring import Target
from voicelab.engine.stock import StockIndex
from voicelab.engine.voices import interpolate, population_std


class StartError(EngineError):
    """No stock voice to start from; the message says which are missing."""


def nearest_voices(index: StockIndex, target: Target, *, among: Sequence[str], k: int) -> list[tuple[str, float]]:
    """The ``k`` voices of ``among`` nearest to the target (both encoders' mean cosine)."""
    missing = sorted(set(among) - set(index.names))
    if missing:
        raise StartError(
            Message("Voices {voices} are not in the models folder: fetch them first.", {"voices": ", ".join(missing)})
        )
    ranked = index.nearest(target.embedding, target.campp, len(index.names))
    return [(name, similarity) for name, similarity in ranked if name in set(among)][:k]


def start_candidates(
    voices: Mapping[str, torch.Tensor], nearest: Sequence[str], alphas: Sequence[float]
) -> dict[str, torch.Tensor]:
    """The nearest voices and, for every pair of them, an interpolation per alpha."""
    candidates = {name: voices[name] for name in nearest}
    for a, b in combinations(nearest, 2):
        for alpha in alphas:
            candidates[f"{a}~{b}@{alpha:+.1f}"] = interpolate(voices[a], voices[b], alpha)
    return candidates


def spread(voices: Mapping[str, torch.Tensor]) -> torch.Tensor | None:
    """The stock voices' per-element std: the walk's mutation scale and the gradient's unit."""
    return population_std(list(voices.values())) if len(voices) > 1 else None
