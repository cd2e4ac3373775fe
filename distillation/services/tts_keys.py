"""The TTS service's API keys as the lab keeps them: made and revoked by operators,
published to the keys file the service reads, and the lab's own key for its calls."""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from distillation.models import TTSApiKey
from voicelab.engine.tts_client import TTSClient
from voicelab.engine.tts_keys import OPERATOR, PublishedKey, key_hash, new_key, read_keys_file, write_keys_file

LAB_KEY_NAME = "the lab"


def create_key(*, name: str, role: str, user: AbstractBaseUser) -> tuple[TTSApiKey, str]:
    """A new key and its secret, which is not kept anywhere: show it once."""
    secret = new_key()
    key = TTSApiKey.objects.create(name=name.strip(), role=role, key_hash=key_hash(secret), created_by=user)
    publish_keys()
    return key, secret


def revoke_key(*, key: TTSApiKey) -> TTSApiKey:
    """Revoke ``key`` (once: a second revoke keeps the first date); the service refuses it
    from its next request on."""
    TTSApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    key.refresh_from_db()
    publish_keys()
    return key


def publish_keys() -> None:
    """Write the hashes of the valid keys, and the lab's own, to the service's keys file.

    Reading and writing happen under a lock, so that of two publishers the last to write
    has also read last: a revoke is never overwritten by an older list."""
    path = Path(settings.VOICELAB_TTS_KEYS_FILE)
    with _locked(path.with_name(f"{path.name}.lock")):
        valid = TTSApiKey.objects.filter(revoked_at__isnull=True).order_by("pk")
        published = [PublishedKey(key.name, key.role, key.key_hash) for key in valid]
        write_keys_file(path, [PublishedKey(LAB_KEY_NAME, OPERATOR, key_hash(_own_key())), *published])


def lab_api_key() -> str:
    """The key of the lab's own calls: ``VOICELAB_TTS_API_KEY`` when given (a service run
    elsewhere), else the lab's operator key, made and published on first use."""
    if settings.VOICELAB_TTS_API_KEY:
        return settings.VOICELAB_TTS_API_KEY
    key = _own_key()
    if key_hash(key) not in _published_hashes():
        publish_keys()
    return key


def lab_tts_client() -> TTSClient:
    return TTSClient(settings.VOICELAB_TTS_URL, api_key=lab_api_key())


def _published_hashes() -> set[str]:
    try:
        return set(read_keys_file(Path(settings.VOICELAB_TTS_KEYS_FILE)))
    except ValueError:  # not a keys file: publishing replaces it
        return set()


def _own_key() -> str:
    """The lab's operator key from its file (mode 0600), made there the first time."""
    path = Path(settings.VOICELAB_TTS_LAB_KEY_FILE)
    if not path.exists():
        _write_once(path, new_key())
    return path.read_text(encoding="utf-8").strip()


def _write_once(path: Path, secret: str) -> None:
    """Write ``secret`` to a new private file at ``path``, complete or not at all.

    ``mkstemp`` makes the file 0600, and linking it into place fails if another process
    got there first, whose key then stands: every process of the lab uses the same key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(secret)
            file.flush()
            os.fsync(file.fileno())
        os.link(temp, path)
    except FileExistsError:
        pass
    finally:
        os.unlink(temp)


@contextmanager
def _locked(lock_file: Path) -> Iterator[None]:
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
