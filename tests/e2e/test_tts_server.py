"""The TTS service as operators run it: ``manage.py runtts`` on a port, driven over real HTTP,
with its keys file, its key from the environment, and its bounded queue and timeout."""

from __future__ import annotations

import base64
import io
import os
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import soundfile as sf
from openai import OpenAI

from voicelab.engine.tts_client import TTSClient
from voicelab.engine.tts_keys import CLIENT, OPERATOR, PublishedKey, key_hash, new_key, write_keys_file

from . import processes
from .processes import LabProcess

KEYS = {"operator": new_key(), "client": new_key(), "spare": new_key(), "environment": new_key()}
ROLES = {"operator": OPERATOR, "client": CLIENT, "spare": CLIENT}
# About 20 s of speech, some 10 s to speak on one thread: the requests behind it are still
# waiting when the test looks, and it outlasts a 4 s timeout.
LONG_TEXT = " ".join(["Lamento mucho las molestias que le hemos causado con su pedido."] * 6)


def bearer(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[name]}"}


def publish(path: Path, *names: str) -> None:
    """Write the keys file as the lab does."""
    write_keys_file(path, [PublishedKey(name, ROLES[name], key_hash(KEYS[name])) for name in names])


@pytest.fixture(scope="module")
def keys_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tts-keys") / "tts-keys.json"
    publish(path, "operator", "client")
    return path


@pytest.fixture(scope="module")
def tts_env_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tts-env") / ".env"


@pytest.fixture(scope="module")
def runtts(kokoro_assets, tts_env_file: Path, keys_file: Path, tmp_path_factory: pytest.TempPathFactory):
    """``runtts(**env)``: a context manager serving ``manage.py runtts`` on a free port with
    the module's keys file and .env and ``env`` added; yields its URL once it answers."""
    from voicelab.embedded_redis import HOST, free_port

    @contextmanager
    def serve(**extra: str) -> Iterator[str]:
        port = free_port()
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "voicelab.settings",
            "VOICELAB_MODELS_DIR": str(kokoro_assets.root),
            "VOICELAB_ENV_FILE": str(tts_env_file),
            "VOICELAB_TTS_KEYS_FILE": str(keys_file),
            "VOICELAB_TTS_API_KEY": KEYS["environment"],
            "KOKORO_THREADS": "1",
            "KOKORO_PROCESSES": "1",  # one worker: the queue tests count places behind it
            **extra,
        }
        log_dir = tmp_path_factory.mktemp("tts-log")
        server: LabProcess = processes.start(
            "runtts", ["manage.py", "runtts", "--port", str(port)], env=env, log_dir=log_dir
        )
        base_url = f"http://{HOST}:{port}"
        try:
            server.wait_ready(lambda: processes.http_ok(f"{base_url}/health"), timeout=90)
            yield base_url
        finally:
            server.stop()

    return serve


@pytest.fixture(scope="module")
def tts_server(runtts: Callable) -> Iterator[str]:
    """The service with one worker and room for one request waiting behind the one being spoken."""
    with runtts(VOICELAB_TTS_QUEUE="1") as url:
        yield url


def pending(url: str) -> int:
    return httpx.get(f"{url}/health", timeout=10).json()["queue"]["pending"]


def wait_pending(url: str, count: int, *, timeout: float = 120) -> None:
    processes.wait_until(lambda: pending(url) == count, timeout=timeout, what=f"{count} requests in the queue")


def speak_later(pool: ThreadPoolExecutor, url: str, text: str) -> Future[httpx.Response]:
    return pool.submit(httpx.post, f"{url}/synthesize", json={"text": text}, headers=bearer("client"), timeout=180)


def test_the_seeds_curl_switches_the_style_and_speech_follows(tts_server: str) -> None:
    # curl -X POST http://localhost:8001/set_voice?style=empatico -H "Authorization: Bearer $KEY"
    switched = httpx.post(
        f"{tts_server}/set_voice", params={"style": "empatico"}, headers=bearer("operator"), timeout=10
    )
    assert switched.status_code == 200 and switched.json()["active"] == "empatico"

    spoken = httpx.post(
        f"{tts_server}/synthesize", json={"text": "Lamento las molestias."}, headers=bearer("client"), timeout=60
    )

    assert spoken.status_code == 200 and spoken.headers["content-type"] == "audio/wav"
    audio, rate = sf.read(io.BytesIO(spoken.content))
    assert rate == 24_000 and 0.7 < len(audio) / rate < 4
    assert httpx.get(f"{tts_server}/health", timeout=10).json()["active"] == "empatico"


def test_captioned_speech_from_the_worker_processes(tts_server: str) -> None:
    """The worker processes time the words with the PyTorch predictor they load when first asked."""
    response = httpx.post(
        f"{tts_server}/v1/audio/captioned_speech",
        json={
            "input": "Le llamo por su pedido 4521. Un momento, por favor.",
            "voice": "neutral",
            "response_format": "wav",
        },
        headers=bearer("client"),
        timeout=180,
    )

    assert response.status_code == 200, response.text
    audio, rate = sf.read(io.BytesIO(base64.b64decode(response.json()["audio"])))
    words = response.json()["timestamps"]
    assert [w["word"] for w in words][5:10] == ["cuatro", "mil", "quinientos", "veintiuno.", "Un"]
    assert 0 < words[0]["start_time"] < words[-1]["end_time"] <= len(audio) / rate


def test_refusals_are_json_with_a_reason(tts_server: str) -> None:
    response = httpx.post(f"{tts_server}/synthesize", json={"text": " "}, headers=bearer("client"), timeout=10)
    assert response.status_code == 400 and response.json() == {"error": "The text is empty."}


def test_keys_decide_who_may_do_what_and_a_revoke_needs_no_restart(
    tts_server: str, keys_file: Path, kokoro_assets
) -> None:
    voices, switch = f"{tts_server}/voices", f"{tts_server}/set_voice?style=amable"
    anonymous = httpx.get(voices, timeout=10)
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"].startswith("Bearer")
    assert "API key" in anonymous.json()["error"]
    assert httpx.post(switch, headers=bearer("client"), timeout=10).status_code == 403
    assert httpx.post(f"{tts_server}/reload", headers=bearer("client"), timeout=10).status_code == 403
    assert httpx.post(switch, headers=bearer("environment"), timeout=10).json()["active"] == "amable"
    page = httpx.post(
        f"{tts_server}/synthesize",
        content=b'{"text": "Hola"}',
        timeout=10,
        headers={"Content-Type": "text/plain", "Origin": "http://evil.example", **bearer("client")},
    )
    assert page.status_code == 403 and "access-control-allow-origin" not in page.headers
    health = httpx.get(f"{tts_server}/health", timeout=10).text
    assert str(kokoro_assets.root) not in health and str(keys_file.parent) not in health

    publish(keys_file, "operator", "client", "spare")
    assert httpx.get(voices, headers=bearer("spare"), timeout=10).status_code == 200
    publish(keys_file, "operator", "client")  # the lab revokes "spare"
    revoked = httpx.get(voices, headers=bearer("spare"), timeout=10)
    assert revoked.status_code == 401 and "revoked" in revoked.json()["error"]


def test_a_full_queue_answers_503_with_retry_after(tts_server: str) -> None:
    with ThreadPoolExecutor(max_workers=2) as pool:
        spoken = speak_later(pool, tts_server, LONG_TEXT)
        wait_pending(tts_server, 1)
        waiting = speak_later(pool, tts_server, LONG_TEXT)
        wait_pending(tts_server, 2)  # one per worker, one waiting: VOICELAB_TTS_QUEUE=1

        refused = httpx.post(f"{tts_server}/synthesize", json={"text": "Hola."}, headers=bearer("client"), timeout=10)

        assert refused.status_code == 503 and "busy" in refused.json()["error"]
        assert int(refused.headers["retry-after"]) >= 1
        assert spoken.result().status_code == 200 and waiting.result().status_code == 200
    assert pending(tts_server) == 0


def test_a_request_past_its_timeout_gets_504_and_a_short_one_is_not_held_behind_it(runtts: Callable) -> None:
    """Requests share the worker sentence by sentence: a short text sent while a long one is
    spoken is answered in time, while the long one runs past its timeout."""
    with runtts(VOICELAB_TTS_TIMEOUT="12") as url, ThreadPoolExecutor(max_workers=2) as pool:
        spoken = speak_later(pool, url, " ".join([LONG_TEXT] * 3))  # some 30 s to speak, 18 sentences
        wait_pending(url, 1)
        short = speak_later(pool, url, "Un momento, por favor.")

        late, answered = spoken.result(), short.result()

        assert answered.status_code == 200 and answered.headers["content-type"] == "audio/wav"
        assert late.status_code == 504 and "within 12 s" in late.json()["error"]
        wait_pending(url, 0, timeout=60)  # its sentences not started were dropped
        again = httpx.post(f"{url}/synthesize", json={"text": "Hola."}, headers=bearer("client"), timeout=30)
        assert again.status_code == 200


def test_missing_models_stop_runtts_with_one_clear_line(tmp_path: Path) -> None:
    import subprocess

    result = subprocess.run(
        [sys.executable, "manage.py", "runtts", "--port", "1"],
        env={**os.environ, "VOICELAB_MODELS_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "fetch_models" in result.stderr and "Traceback" not in result.stderr


def test_deploy_reloads_the_running_service(tts_server: str, tts_env_file: Path, tmp_path: Path, stock_voice) -> None:
    from voicelab.engine.deploy import deploy
    from voicelab.engine.voices import save_voice

    evolved = {"neutral": tmp_path / "neutral.pt", "profesional": tmp_path / "profesional.pt"}
    save_voice(stock_voice("em_alex"), evolved["neutral"])
    save_voice(stock_voice("em_santa"), evolved["profesional"])

    report = deploy(
        evolved=evolved,
        passed=dict.fromkeys(evolved, True),
        target_dir=tmp_path / "deployed",
        env_file=tts_env_file,
        active="profesional",
        tts=TTSClient(tts_server, api_key=KEYS["operator"]),
    )

    assert report.reloaded and not report.warnings
    described = httpx.get(f"{tts_server}/voices", headers=bearer("client"), timeout=10).json()
    assert (described["tts_backend"], described["active"]) == ("kokoro", "profesional")
    assert described["styles"]["profesional"] == {"file": "profesional.pt", "source": "deployed", "pace": 1.05}
    assert described["styles"]["amable"]["source"] == "stock:ef_dora"


# ---- OpenAI's speech API, with OpenAI's own client ---------------------------------------------

SENTENCES = (
    "Buenos días.",  # short: the first audio of a stream comes after it alone
    "Le llamo del servicio técnico para confirmar la visita de mañana por la mañana, entre las nueve y las doce.",
    "Si ese horario no le viene bien, podemos cambiarlo ahora mismo sin ningún coste para usted.",
)


def openai_client(url: str, key: str = "client") -> OpenAI:
    return OpenAI(base_url=f"{url}/v1", api_key=KEYS[key], max_retries=0, timeout=120)


def decoded(data: bytes, audio_format: str, tmp_path: Path) -> tuple[int, float]:
    """(sample rate, seconds) of what came back."""
    if audio_format == "pcm":
        return 24_000, len(data) / 2 / 24_000
    path = tmp_path / f"speech.{audio_format}"
    path.write_bytes(data)
    info = sf.info(path)
    assert info.channels == 1
    return info.samplerate, info.frames / info.samplerate


@pytest.mark.parametrize("audio_format", ["mp3", "opus", "wav", "pcm", "flac"])
def test_the_openai_client_speaks_every_format(tts_server: str, audio_format: str, tmp_path: Path) -> None:
    response = openai_client(tts_server).audio.speech.create(
        model="tts-1", voice="amable", input=SENTENCES[0] + " " + SENTENCES[2], response_format=audio_format
    )
    rate, seconds = decoded(response.content, audio_format, tmp_path)
    assert rate == 24_000 and 3 < seconds < 12


def test_a_stream_delivers_the_first_sentence_before_the_last_is_rendered(tts_server: str) -> None:
    client = openai_client(tts_server)
    started = time.monotonic()
    arrivals: list[tuple[float, int]] = []
    with client.audio.speech.with_streaming_response.create(
        model="kokoro", voice="neutral", input=" ".join(SENTENCES), response_format="pcm"
    ) as response:
        assert response.headers["content-type"] == "audio/pcm"
        for chunk in response.iter_bytes():
            arrivals.append((time.monotonic() - started, len(chunk)))
    first, end = arrivals[0][0], arrivals[-1][0]
    total = sum(size for _, size in arrivals)
    # The first sentence is a sixth of the speech: it arrives long before the other two are rendered.
    assert first < end / 2 and arrivals[0][1] < total / 2
    assert 8 < total / 2 / 24_000 < 25


@pytest.fixture(scope="module")
def two_workers(runtts: Callable, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A service with two worker processes and a .env of its own: (URL, .env)."""
    env_file = tmp_path_factory.mktemp("two-workers") / ".env"
    with runtts(KOKORO_PROCESSES="2", VOICELAB_ENV_FILE=str(env_file), VOICELAB_TTS_QUEUE="8") as url:
        yield url, env_file


def test_a_reload_mid_stream_keeps_the_voice_the_request_started_with(
    two_workers: tuple[str, Path], tmp_path: Path, stock_voice: Callable
) -> None:
    from voicelab.engine.deploy import deploy
    from voicelab.engine.voices import save_voice

    url, env_file = two_workers
    client, text = openai_client(url), " ".join(SENTENCES)

    def length() -> int:
        return len(
            client.audio.speech.create(model="kokoro", voice="neutral", input=text, response_format="pcm").content
        )

    before = length()  # ef_dora, the stock voice
    save_voice(stock_voice("em_alex"), tmp_path / "neutral.pt")
    with client.audio.speech.with_streaming_response.create(
        model="kokoro", voice="neutral", input=text, response_format="pcm"
    ) as response:
        chunks = response.iter_bytes()
        received = len(next(chunks))  # the request is under way
        report = deploy(
            evolved={"neutral": tmp_path / "neutral.pt"},
            passed={"neutral": True},
            target_dir=tmp_path / "deployed",
            env_file=env_file,
            active="neutral",
            tts=TTSClient(url, api_key=KEYS["operator"]),
        )
        assert report.reloaded
        received += sum(len(chunk) for chunk in chunks)
    assert received == before  # Kokoro's durations are deterministic: the same voice, the same length
    assert length() != before  # and the new voice speaks the next request


def test_concurrent_callers_all_get_their_audio(two_workers: tuple[str, Path]) -> None:
    url, _ = two_workers
    health = httpx.get(f"{url}/health", timeout=10).json()
    assert health["queue"]["workers"] == 2

    def speak(index: int) -> int:
        response = openai_client(url).audio.speech.create(
            model="tts-1", voice="profesional", input=SENTENCES[index % 3], response_format="wav"
        )
        return len(response.content)

    with ThreadPoolExecutor(max_workers=6) as pool:
        sizes = list(pool.map(speak, range(6)))
    assert all(size > 24_000 for size in sizes) and sizes[0] == sizes[3]
    assert pending(url) == 0
