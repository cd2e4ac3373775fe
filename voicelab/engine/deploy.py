"""Stage 4: put the validated voices in service.

Copies each style's evolved tensor into the deployed-voices folder (atomically; a
style that failed validation is refused unless forced), records the styles' measured pace
beside them (``pace.json``, merged with what an earlier deploy measured), points the ``.env``
file at them (``TTS_BACKEND=kokoro``, ``KOKORO_VOICE_PATH``; every other line is kept), and
asks the running TTS service to reload. Returns what changed.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values, set_key

from voicelab.engine.errors import EngineError
from voicelab.engine.files import atomic_path
from voicelab.engine.messages import Message
from voicelab.engine.tts_client import TTSClient, TTSUnavailable
from voicelab.engine.voices import load_voice

PACE_FILE = "pace.json"  # beside the deployed voices: {style: speed}, which the TTS service reads


class DeployError(EngineError):
    """A deploy that was refused before anything changed; the message says why."""


@dataclass
class DeployReport:
    deployed: dict[str, Path] = field(default_factory=dict)  # style -> deployed file
    env_changes: dict[str, tuple[str | None, str]] = field(default_factory=dict)  # key -> (before, after)
    reloaded: bool = False
    warnings: list[Message] = field(default_factory=list)
    pace: dict[str, float] = field(default_factory=dict)  # style -> the speed the service speaks it at


def deploy(
    *,
    evolved: Mapping[str, Path],
    passed: Mapping[str, bool],
    target_dir: Path,
    env_file: Path,
    active: str,
    force: bool = False,
    tts: TTSClient | None = None,
    pace: Mapping[str, float] | None = None,
) -> DeployReport:
    """Deploy ``evolved`` ({style: tensor file}); ``passed`` is Stage 3's verdict per style;
    ``pace`` the styles' measured pace (see ``pace.py``); ``tts``, with an operator key, is
    asked to reload."""
    _check(evolved, passed, force=force, active=active)
    report = DeployReport()
    for style, source in evolved.items():
        target = target_dir / f"{style}.pt"
        with atomic_path(target) as temp:
            shutil.copyfile(source, temp)
        report.deployed[style] = target
        if not passed.get(style, False):
            report.warnings.append(
                Message("{style} failed validation and was deployed anyway (forced).", {"style": style})
            )
    if pace:
        report.pace = _record_pace(target_dir / PACE_FILE, pace)
    report.env_changes = _point_env(
        env_file, {"TTS_BACKEND": "kokoro", "KOKORO_VOICE_PATH": str(target_dir / f"{active}.pt")}
    )
    if tts is not None:
        report.reloaded = _reload(tts, report)
    return report


def _check(evolved: Mapping[str, Path], passed: Mapping[str, bool], *, force: bool, active: str) -> None:
    """Every problem is found before the first file is touched."""
    if not evolved:
        raise DeployError("There is nothing to deploy: no evolved voices.")
    if active not in evolved:
        raise DeployError(
            Message(
                "The active style “{active}” is not among the deployed styles {styles}.",
                {"active": active, "styles": ", ".join(evolved)},
            )
        )
    failing = [style for style in evolved if not passed.get(style, False)]
    if failing and not force:
        raise DeployError(
            Message(
                "{styles} did not pass validation: deploy refused "
                "(to deploy anyway, force it: --force, or the deploy form's tick box).",
                {"styles": ", ".join(failing)},
            )
        )
    for path in evolved.values():
        load_voice(path)  # VoiceError names the file and what is wrong with it


def _record_pace(path: Path, pace: Mapping[str, float]) -> dict[str, float]:
    """``pace`` over what the file held (a style deployed alone keeps the others' pace)."""
    try:
        recorded = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except ValueError:
        recorded = {}  # a damaged file is replaced by what was measured now
    recorded = {**recorded, **pace}
    with atomic_path(path) as temp:
        temp.write_text(json.dumps(recorded, indent=1, sort_keys=True), encoding="utf-8")
    return recorded


def _point_env(env_file: Path, values: Mapping[str, str]) -> dict[str, tuple[str | None, str]]:
    """Set ``values`` in the .env file, keeping every other line; returns what changed."""
    before = dotenv_values(env_file) if env_file.exists() else {}
    env_file.parent.mkdir(parents=True, exist_ok=True)
    env_file.touch(exist_ok=True)
    changes = {}
    for key, value in values.items():
        if before.get(key) != value:
            set_key(env_file, key, value, quote_mode="never")
            changes[key] = (before.get(key), value)
    return changes


def _reload(tts: TTSClient, report: DeployReport) -> bool:
    try:
        tts.reload()
    except TTSUnavailable as exc:
        report.warnings.append(Message("{problem} Restart it to load the voices.", {"problem": exc.args[0]}))
        return False
    return True
