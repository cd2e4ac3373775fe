"""Atomic writes: a file appears at its path whole, or not at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from voicelab.engine.files import atomic_path


def test_atomic_path_replaces_only_on_success(tmp_path: Path) -> None:
    target = tmp_path / "asset.bin"
    with pytest.raises(RuntimeError), atomic_path(target) as temp:
        temp.write_bytes(b"half")
        raise RuntimeError("disk full")
    assert list(tmp_path.iterdir()) == []
    with atomic_path(target) as temp:
        temp.write_bytes(b"whole")
    assert target.read_bytes() == b"whole"
    assert list(tmp_path.iterdir()) == [target]
