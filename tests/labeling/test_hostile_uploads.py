"""Every audio format libsndfile can write, truncated files and crafted headers, uploaded as takes:
each one is stored and validated, or refused with a message, and never answers 500."""

from __future__ import annotations

import io
import struct
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from labeling.models import Recording, Sentence
from labeling.services.takes import validate_take
from voicelab.engine.audio import read_audio, resample

pytestmark = pytest.mark.django_db

UPLOAD_URL = "/labeling/sentences/{}/takes/"
# Codecs made for telephones and old hardware only take their own rates.
RATE_OF = {
    "GSM610": 8000,
    "G721_32": 8000,
    "G723_24": 8000,
    "G723_40": 8000,
    "VOX_ADPCM": 8000,
    "NMS_ADPCM_16": 8000,
    "NMS_ADPCM_24": 8000,
    "NMS_ADPCM_32": 8000,
}


def _written(samples: np.ndarray, rate: int) -> Iterator[tuple[str, bytes]]:
    """The speech in every (format, subtype) libsndfile can write."""
    for audio_format in sf.available_formats():
        for subtype in sf.available_subtypes(audio_format):
            if not sf.check_format(audio_format, subtype):
                continue
            sample_rate = RATE_OF.get(subtype, rate)
            buffer = io.BytesIO()
            try:
                sf.write(
                    buffer, resample(samples, rate, sample_rate), sample_rate, format=audio_format, subtype=subtype
                )
            except (sf.LibsndfileError, RuntimeError, TypeError, ValueError, AssertionError):
                continue  # a combination libsndfile lists but cannot write to a stream
            yield f"{audio_format}-{subtype}.{audio_format.lower()}", buffer.getvalue()


def _crafted(wav: bytes) -> Iterator[tuple[str, bytes]]:
    """Damaged and lying files built from a good WAV."""
    for fraction in (0.0, 0.01, 0.05, 0.1, 0.3, 0.5, 0.9):
        yield f"truncated-{fraction}.wav", wav[: max(1, int(len(wav) * fraction))]
    header = bytearray(wav[:44])
    for offset, value, name in (
        (22, 0, "zero-channels"),
        (22, 65535, "65535-channels"),
        (34, 0, "zero-bits"),
        (34, 7, "7-bits"),
        (34, 64, "64-bits"),
        (20, 99, "unknown-codec"),
    ):
        damaged = bytearray(wav)
        damaged[offset : offset + 2] = struct.pack("<H", value)
        yield f"{name}.wav", bytes(damaged)
    for rate in (0, 1, 100, 4_000_000_000):
        damaged = bytearray(wav)
        damaged[24:28] = struct.pack("<I", rate)
        yield f"rate-{rate}.wav", bytes(damaged)
    yield "header-only.wav", bytes(header)
    yield "garbage-after-riff.wav", b"RIFF" + bytes(np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8))
    yield "text.wav", "Buenos días, esto no es audio.".encode()
    yield "empty.wav", b""
    floats = io.BytesIO()
    sf.write(floats, np.full(16000, 1e30, dtype=np.float32), 16000, format="WAV", subtype="FLOAT")
    yield "huge-floats.wav", floats.getvalue()
    nans = io.BytesIO()
    sf.write(nans, np.full(16000, np.nan, dtype=np.float32), 16000, format="WAV", subtype="FLOAT")
    yield "nan-floats.wav", nans.getvalue()
    silence = io.BytesIO()
    sf.write(silence, np.zeros(16000 * 3, dtype=np.float32), 16000, format="WAV")
    yield "silence.wav", silence.getvalue()


def test_hostile_and_odd_uploads_never_answer_500(
    annotator_client: Client,
    corpus: None,
    media_root: Path,
    label: Callable[[str, str], Sentence],
    espeak_wav: Callable[..., Path],
) -> None:
    sentence = label("shcc-01", "neutral")
    speech = read_audio(espeak_wav(sentence.text))
    wav = espeak_wav(sentence.text).read_bytes()
    uploads = [*_written(speech.samples, speech.sample_rate), *_crafted(wav)]
    annotator_client.raise_request_exception = False
    outcomes, server_errors = Counter(), []
    for name, data in uploads:
        for sent_as in {name, Path(name).with_suffix(".wav").name}:  # as named, and mislabeled as a WAV
            response = annotator_client.post(
                UPLOAD_URL.format(sentence.sentence_id),
                {"audio": SimpleUploadedFile(sent_as, data)},
                headers={"HX-Request": "true"},
            )
            if response.status_code >= 500:
                server_errors.append(sent_as)
                continue
            assert response.status_code in (201, 400), (sent_as, response.status_code)
            if response.status_code == 400:
                assert response.content.decode().strip(), f"{sent_as}: a refusal says why"
                outcomes["refused"] += 1
                continue
            take = Recording.objects.select_related("sentence").filter(sentence=sentence).latest("take_number")
            take = validate_take(recording=take)
            outcomes[take.status] += 1
            if take.status == Recording.Status.VALID:
                assert take.findings is not None and take.quality_score is not None
    print(f"{sum(outcomes.values())} uploads of {len(uploads)} files: {dict(outcomes)}; 500s: {server_errors}")
    assert server_errors == []
    assert len(uploads) > 100
    assert outcomes["refused"] and outcomes[Recording.Status.VALID]
    active = Sentence.objects.get(pk=sentence.pk).active_take
    assert active is None or active.status == Recording.Status.VALID
