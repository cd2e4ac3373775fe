"""Uploading takes: what is stored, where, and every way an upload is refused."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile as sf
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import HttpResponse
from django.test import Client
from pytest_django.fixtures import Settings

from labeling.models import Recording, Sentence
from labeling.services.takes import MEGABYTE, TakeRejected, check_audio_upload
from tests.sounds import wav_bytes
from voicelab.engine.audio import Audio, accepted_extensions

pytestmark = pytest.mark.django_db

UPLOAD_URL = "/labeling/sentences/shcc-01/takes/"
TAKE_PATH = "recordings/takes/shcc-01/shcc-01_amable_take{:03d}.wav"


def post_take(client: Client, path: Path, name: str | None = None, url: str = UPLOAD_URL, **data: str) -> HttpResponse:
    """Upload ``path`` (sent as ``name``) the way the workspace's htmx form does."""
    upload = SimpleUploadedFile(name or path.name, path.read_bytes())
    return client.post(url, {"audio": upload, **data}, headers={"HX-Request": "true"})


def test_good_upload_is_stored_as_a_pending_16_bit_mono_wav(
    labeled_greeting: Sentence,
    annotator_client: Client,
    annotator: User,
    media_root: Path,
    espeak_wav: Callable[..., Path],
) -> None:
    response = post_take(annotator_client, espeak_wav(), name="mi toma.wav")

    assert response.status_code == 201
    assert 'id="take-shcc-01"' in response.content.decode()
    take = Recording.objects.get()
    assert (take.status, take.take_number, take.style, take.source) == ("pending", 1, "amable", "upload")
    assert (take.uploaded_by, take.speaker, take.original_name) == (annotator, "ana", "mi toma.wav")
    assert take.audio.name == TAKE_PATH.format(1)
    info = sf.info(media_root / take.audio.name)
    assert (info.format, info.subtype, info.channels) == ("WAV", "PCM_16", 1)
    assert abs(info.duration - take.duration_seconds) < 0.01
    assert Sentence.objects.get(pk=labeled_greeting.pk).active_take is None


def test_take_numbers_count_up_and_earlier_takes_stay(
    labeled_greeting: Sentence,
    annotator_client: Client,
    media_files: Callable[[], set[str]],
    espeak_wav: Callable[..., Path],
) -> None:
    for _ in range(2):
        assert post_take(annotator_client, espeak_wav()).status_code == 201
    assert media_files() == {TAKE_PATH.format(1), TAKE_PATH.format(2)}
    assert sorted(Recording.objects.values_list("take_number", flat=True)) == [1, 2]


def test_explicit_style_and_speaker_are_used(
    greeting_sentence: Sentence, annotator_client: Client, espeak_wav: Callable[..., Path], media_root: Path
) -> None:
    response = post_take(annotator_client, espeak_wav(), style="empatico", speaker="Lucía", source="browser")
    assert response.status_code == 201
    take = Recording.objects.get()
    assert (take.style, take.speaker, take.source) == ("empatico", "Lucía", "browser")
    assert take.audio.name == "recordings/takes/shcc-01/shcc-01_empatico_take001.wav"


def test_uploaders_filename_never_reaches_the_filesystem(
    labeled_greeting: Sentence,
    annotator_client: Client,
    media_root: Path,
    tmp_path: Path,
    espeak_wav: Callable[..., Path],
) -> None:
    # Built by hand: Django's test client would strip the directories before sending.
    boundary = "voicelab-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="audio"; filename="../../evil name.wav"\r\n'
            "Content-Type: audio/wav\r\n\r\n"
        ).encode()
        + espeak_wav().read_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )

    response = annotator_client.post(
        UPLOAD_URL, body, content_type=f"multipart/form-data; boundary={boundary}", headers={"HX-Request": "true"}
    )

    assert response.status_code == 201
    take = Recording.objects.get()
    assert take.audio.name == TAKE_PATH.format(1)
    assert "/" not in take.original_name and take.original_name.endswith("evil name.wav")
    assert not list(tmp_path.parent.rglob("*evil*"))
    assert [p.relative_to(media_root).as_posix() for p in media_root.rglob("*.wav")] == [TAKE_PATH.format(1)]


@pytest.mark.parametrize(("format_", "suffix"), [("FLAC", ".flac"), ("OGG", ".ogg")])
def test_flac_and_ogg_are_accepted_and_stored_as_mono_wav(
    labeled_greeting: Sentence,
    annotator_client: Client,
    media_root: Path,
    tmp_path: Path,
    espeak_wav: Callable[..., Path],
    format_: str,
    suffix: str,
) -> None:
    samples, rate = sf.read(espeak_wav(), dtype="float32")
    upload = tmp_path / f"take{suffix}"
    sf.write(upload, np.stack([samples, samples], axis=1), rate, format=format_)  # stereo on purpose

    response = post_take(annotator_client, upload)

    assert response.status_code == 201, response.content
    take = Recording.objects.get()
    assert take.original_name == f"take{suffix}"
    info = sf.info(media_root / take.audio.name)
    assert (info.format, info.subtype, info.channels, info.samplerate) == ("WAV", "PCM_16", 1, rate)


@pytest.mark.parametrize(
    ("container", "codec", "name"),
    [("ipod", "aac", "take.m4a"), ("webm", "libopus", "take.webm"), ("ogg", "libopus", "take.opus")],
    ids=["safari-m4a", "chrome-webm", "firefox-ogg-opus"],
)
def test_browser_recordings_are_accepted_and_stored_as_mono_wav(
    labeled_greeting: Sentence,
    annotator_client: Client,
    media_root: Path,
    tmp_path: Path,
    speak: Callable[..., Audio],
    av_encode: Callable[..., bytes],
    container: str,
    codec: str,
    name: str,
) -> None:
    upload = tmp_path / name
    upload.write_bytes(av_encode(speak(), container, codec))

    response = post_take(annotator_client, upload)

    assert response.status_code == 201, response.content
    info = sf.info(media_root / Recording.objects.get().audio.name)
    assert (info.format, info.subtype, info.channels, info.samplerate) == ("WAV", "PCM_16", 1, 48_000)


def test_the_upload_form_offers_every_accepted_ending(labeled_greeting: Sentence, annotator_client: Client) -> None:
    html = annotator_client.get("/labeling/sentences/shcc-01/take-cell/").content.decode()
    (accept,) = re.findall(r'<input type="file" name="audio" accept="([^"]+)"', html)
    assert {kind for kind in accept.split(",") if kind.startswith(".")} == set(accepted_extensions())


@pytest.mark.parametrize("codec", ["GSM610", "G721_32"])
def test_telephone_codec_wavs_are_accepted(
    labeled_greeting: Sentence,
    annotator_client: Client,
    media_root: Path,
    tmp_path: Path,
    espeak_wav: Callable[..., Path],
    codec: str,
) -> None:
    samples, rate = sf.read(espeak_wav(), dtype="float32")
    upload = tmp_path / "take.wav"
    sf.write(upload, librosa.resample(samples, orig_sr=rate, target_sr=8_000), 8_000, subtype=codec)

    response = post_take(annotator_client, upload)

    assert response.status_code == 201, response.content
    info = sf.info(media_root / Recording.objects.get().audio.name)
    assert (info.subtype, info.samplerate) == ("PCM_16", 8_000)
    assert info.duration == pytest.approx(len(samples) / rate, abs=0.1)  # GSM pads its last block


@pytest.fixture
def bad_upload(
    tmp_path: Path, espeak_wav: Callable[..., Path], settings: Settings
) -> Callable[[str], tuple[Path, dict]]:
    """``bad_upload(case) -> (file, extra form data)``, each a way an upload must be refused."""
    good = espeak_wav().read_bytes()
    speech, _ = sf.read(espeak_wav(), dtype="float32")

    def make(case: str) -> tuple[Path, dict]:
        name, content, data = {
            "corrupt": ("take.wav", b"RIFF-not-really-audio" * 50, {}),
            "empty": ("take.wav", b"", {}),
            "truncated_header": ("take.wav", good[:30], {}),
            "mp3": ("take.mp3", good, {}),
            "txt": ("take.txt", good, {}),
            "too_big": ("take.wav", good, {}),
            "too_long": ("take.wav", good, {}),
            "unknown_style": ("take.wav", good, {"style": "enfadado"}),
            "one_hertz": ("take.wav", wav_bytes(speech, 1), {}),
            "absurd_floats": ("take.wav", wav_bytes(speech / np.abs(speech).max() * 1e30, 22_050, "FLOAT"), {}),
        }[case]
        if case == "too_big":
            settings.VOICELAB_MAX_UPLOAD_BYTES = len(good) - 1
        if case == "too_long":
            settings.VOICELAB_MAX_TAKE_SECONDS = 1.0
        path = tmp_path / name
        path.write_bytes(content)
        return path, data

    return make


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("corrupt", "not audio that can be read"),
        ("empty", "empty"),
        ("truncated_header", "not audio that can be read"),
        ("mp3", "“.mp3” files are not accepted"),
        ("txt", "“.txt” files are not accepted"),
        ("too_big", "The file is 1 byte over the"),
        ("too_long", "the longest allowed is 1 seconds"),
        ("unknown_style", "Unknown style “enfadado”"),
        ("one_hertz", "sample rate is 1 Hz, which no recording has"),
        ("absurd_floats", "not a recording: its samples reach 1e+30 times full scale"),
    ],
)
def test_bad_uploads_are_refused_and_leave_nothing(
    labeled_greeting: Sentence,
    annotator_client: Client,
    media_files: Callable[[], set[str]],
    bad_upload: Callable[[str], tuple[Path, dict]],
    case: str,
    message: str,
) -> None:
    path, data = bad_upload(case)
    response = post_take(annotator_client, path, **data)

    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Recording.objects.exists()
    assert media_files() == set()


@pytest.mark.parametrize(
    ("size", "message"),
    [
        (2 * MEGABYTE + 1, "The file is 1 byte over the 2 MB limit."),
        (2 * MEGABYTE + 1_500, "The file is 1,500 bytes over the 2 MB limit."),
        (3.5 * MEGABYTE, "The file is 1.5 MB over the 2 MB limit."),
    ],
)
def test_a_file_over_the_size_limit_says_by_how_much(settings: Settings, size: float, message: str) -> None:
    settings.VOICELAB_MAX_UPLOAD_BYTES = 2 * MEGABYTE
    with pytest.raises(TakeRejected) as caught:
        check_audio_upload(SimpleUploadedFile("take.wav", bytes(int(size))))
    assert str(caught.value) == message


def test_an_unlabeled_sentence_needs_a_style(
    corpus: None, annotator_client: Client, media_files: Callable[[], set[str]], espeak_wav: Callable[..., Path]
) -> None:
    response = post_take(annotator_client, espeak_wav(), url="/labeling/sentences/shpg-01/takes/")
    assert response.status_code == 400
    assert "Label the sentence with a style" in response.content.decode()
    assert not Recording.objects.exists() and media_files() == set()


def test_upload_without_a_file_is_refused(labeled_greeting: Sentence, annotator_client: Client) -> None:
    response = annotator_client.post(UPLOAD_URL, {"style": "amable"}, headers={"HX-Request": "true"})
    assert response.status_code == 400
    assert "Choose an audio file" in response.content.decode()


def test_take_audio_is_served_and_a_missing_file_is_a_404(
    labeled_greeting: Sentence,
    annotator_client: Client,
    add: Callable[..., Recording],
    media_root: Path,
    espeak_wav: Callable[..., Path],
) -> None:
    take = add(labeled_greeting, espeak_wav())
    response = annotator_client.get(f"/labeling/takes/{take.pk}/audio/")
    assert response.status_code == 200 and response["Content-Type"] == "audio/wav"
    assert b"".join(response.streaming_content) == (media_root / take.audio.name).read_bytes()
    (media_root / take.audio.name).unlink()
    assert annotator_client.get(f"/labeling/takes/{take.pk}/audio/").status_code == 404
