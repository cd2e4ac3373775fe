"""The TTS service's API keys: how they are made, published and checked (framework-free).

The lab keeps the keys (``distillation.models.TTSApiKey``) and publishes the valid ones
to a JSON file that the service reads, so the service needs no database:

    {"keys": [{"name": "call center", "role": "client", "sha256": "<64 hex digits>"}]}

Only hashes leave the lab. A key is 32 random bytes (``secrets.token_urlsafe``), so a
plain sha256 is enough: there is no guessable secret for a salt or a slow hash to protect.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from voicelab.engine.files import atomic_path

OPERATOR = "operator"  # everything: synthesize, voices, switch the style, reload
CLIENT = "client"  # synthesize and list the voices
ROLES = (OPERATOR, CLIENT)

log = logging.getLogger(__name__)


def new_key() -> str:
    return secrets.token_urlsafe(32)


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class PublishedKey:
    name: str
    role: str
    sha256: str


def write_keys_file(path: Path, keys: Iterable[PublishedKey]) -> None:
    """Replace the keys file in one step: the service never reads half a list."""
    with atomic_path(path) as temp:
        temp.write_text(json.dumps({"keys": [asdict(key) for key in keys]}, indent=2), encoding="utf-8")


def read_keys_file(path: Path) -> dict[str, PublishedKey]:
    """The published keys by hash; none when the file is missing.

    Raises ValueError for a file that is not a keys file."""
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))["keys"]
        keys = [PublishedKey(entry["name"], entry["role"], entry["sha256"]) for entry in entries]
    except FileNotFoundError:
        return {}
    except (KeyError, TypeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path.name} is not a keys file ({exc!r}).") from None
    return {key.sha256: key for key in keys if key.role in ROLES}


class KeyRing:
    """The keys the service accepts: the published ones, re-read whenever the file changes
    (so a revoke takes effect on the next request), plus an optional operator key given by
    the environment (``VOICELAB_TTS_API_KEY``) for a service that runs away from the lab."""

    def __init__(self, path: Path | None, *, operator_key: str = "") -> None:
        self.path = path
        given = [PublishedKey("environment", OPERATOR, key_hash(operator_key))] if operator_key else []
        self._extra = {key.sha256: key for key in given}
        self._seen: tuple[int, int, int] | None = None
        self._published: dict[str, PublishedKey] = {}

    def role_of(self, key: str) -> str | None:
        """The role of ``key``, or None for a key that is unknown or revoked."""
        self._refresh()
        digest = key_hash(key)
        found = self._extra.get(digest) or self._published.get(digest)
        return found.role if found else None

    def _refresh(self) -> None:
        signature = self._signature()
        if signature == self._seen:
            return
        try:
            self._published = read_keys_file(self.path) if self.path else {}
        except ValueError as exc:
            log.error("Refusing every published key: %s", exc)  # fail closed, never open
            self._published = {}
        self._seen = signature

    def _signature(self) -> tuple[int, int, int] | None:
        """What tells a rewritten file: each write is a new file (a new inode) renamed in place."""
        try:
            stat = os.stat(self.path) if self.path else None
        except FileNotFoundError:
            return None
        return (stat.st_mtime_ns, stat.st_ino, stat.st_size) if stat else None
