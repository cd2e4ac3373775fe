"""Building the ``kokoro`` package's ``KModel`` from local files only.

The repo id names the architecture (KModel's own default); the config and weights
always come from paths, so nothing is fetched from a model hub.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

REPO_ID = "hexgrad/Kokoro-82M"


def build_kmodel(config: Path | dict[str, Any], weights: Path) -> Any:
    """``KModel(config, weights)``, without the two warnings kokoro's modules raise on every build
    (an LSTM dropout that has no effect, and the deprecated ``weight_norm`` they use)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "dropout option adds dropout", UserWarning)
        warnings.filterwarnings("ignore", r".*weight_norm.* is deprecated", FutureWarning)
        from kokoro.model import KModel  # heavy (transformers): only when a model is built

        return KModel(repo_id=REPO_ID, config=config if isinstance(config, dict) else str(config), model=str(weights))
