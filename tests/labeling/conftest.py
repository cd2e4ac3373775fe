"""Fixtures of the labeling tests: sentences, real takes (espeak-ng speech or numpy signals) and clients."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from pytest_django.fixtures import Settings

from labeling.models import Recording, Sentence
from labeling.services.labels import set_style_label
from labeling.services.takes import add_take, validate_take
from voicelab.engine.audio import write_wav

# shcc-01's text is the greeting that ``espeak_wav()`` says by default.
GREETING_ID = "shcc-01"

AddTake = Callable[..., Recording]


def upload_of(path: Path) -> SimpleUploadedFile:
    """A file as Django hands an upload to a view."""
    return SimpleUploadedFile(path.name, path.read_bytes())


def files_under(root: Path) -> set[str]:
    """Every file under ``root``, relative to it."""
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def media_files(media_root: Path) -> Callable[[], set[str]]:
    """``media_files()``: the files now under the test's MEDIA_ROOT."""
    return lambda: files_under(media_root)


@pytest.fixture
def greeting_sentence(corpus: None) -> Sentence:
    return Sentence.objects.get(sentence_id=GREETING_ID)


@pytest.fixture
def label(annotator: User) -> Callable[[str, str], Sentence]:
    """``label(sentence_id, style)``: the annotator labels it; returns the fresh sentence."""

    def make(sentence_id: str, style: str) -> Sentence:
        sentence = Sentence.objects.get(sentence_id=sentence_id)
        set_style_label(sentence=sentence, style=style, user=annotator)
        return Sentence.objects.get(sentence_id=sentence_id)

    return make


@pytest.fixture
def labeled_greeting(greeting_sentence: Sentence, label: Callable[[str, str], Sentence]) -> Sentence:
    return label(greeting_sentence.sentence_id, "amable")


@pytest.fixture
def signal_wav(tmp_path: Path) -> Callable[..., Path]:
    """``signal_wav(samples, sample_rate=16000) -> Path``: a numpy signal as a 16-bit WAV."""
    numbers = itertools.count()

    def make(samples: np.ndarray, sample_rate: int = 16_000) -> Path:
        path = tmp_path / f"signal{next(numbers)}.wav"
        write_wav(path, samples.astype(np.float32), sample_rate)
        return path

    return make


@pytest.fixture
def silence_wav(signal_wav: Callable[..., Path]) -> Callable[[float], Path]:
    """``silence_wav(seconds)``: digital silence at 16 kHz."""
    return lambda seconds: signal_wav(np.zeros(round(seconds * 16_000)))


@pytest.fixture
def add(media_root: Path, annotator: User) -> AddTake:
    """``add(sentence, wav, style=None, speaker=None)``: the annotator uploads a take (service call)."""

    def make(sentence: Sentence, wav: Path, *, style: str | None = None, speaker: str | None = None) -> Recording:
        sentence = Sentence.objects.select_related("current_label").get(pk=sentence.pk)
        return add_take(sentence=sentence, upload=upload_of(wav), user=annotator, style=style, speaker=speaker)

    return make


@pytest.fixture
def validated(add: AddTake) -> AddTake:
    """Like ``add``, then validated synchronously, as the worker does."""

    def make(sentence: Sentence, wav: Path, **kwargs: str | None) -> Recording:
        take = add(sentence, wav, **kwargs)
        return validate_take(recording=Recording.objects.select_related("sentence").get(pk=take.pk))

    return make


@pytest.fixture
def nobody_client(db: None) -> Client:
    """A logged-in user in no group: may neither look nor change anything."""
    client = Client()
    client.force_login(User.objects.create_user("nadie", password="nadie-password-1"))
    return client


@pytest.fixture
def htmx() -> dict[str, str]:
    """Headers htmx sends with its requests."""
    return {"HX-Request": "true"}


@pytest.fixture(autouse=True)
def fast_password_hashing(settings: Settings) -> None:
    """Users are made in almost every test; the real PBKDF2 rounds only cost time here."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
