"""The Kokoro TTS service over HTTP: endpoints, style switching, deployments, refusals, and
who may call it (API keys, origins, body types); the real app on the real onnx synthesizer."""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from starlette.testclient import TestClient

from voicelab.engine.assets import ModelAssets
from voicelab.engine.g2p import spoken_text
from voicelab.engine.synthesis import CHUNK_PAUSE_SECONDS, SynthesisPool
from voicelab.engine.tts_app import create_app
from voicelab.engine.tts_keys import CLIENT, OPERATOR, KeyRing, PublishedKey, key_hash, new_key, write_keys_file
from voicelab.engine.tts_service import MAX_TEXT_CHARS, ServiceError, ServiceLimits, TTSService
from voicelab.engine.voices import save_voice

TEXT = "Gracias por su paciencia."
KEYS = {"operator": new_key(), "client": new_key(), "revoked": new_key(), "environment": new_key()}
# A path on the server: a slash after no word character, colon, dot or slash (not a URL), then folders.
SERVER_PATH = re.compile(r"(?<![\w.:/])/(?:[\w.-]+/)+[\w.-]*")


@pytest.fixture
def env_file(tmp_path: Path) -> Path:
    return tmp_path / ".env"


def tts_service(synthesizer, kokoro_assets, env_file: Path) -> TTSService:
    pool = SynthesisPool(kokoro_assets, synthesizer.config, local=synthesizer)
    return TTSService(pool=pool, assets=kokoro_assets, environ={}, env_file=env_file)


@pytest.fixture
def service(onnx_synthesizer, kokoro_assets, env_file: Path) -> TTSService:
    return tts_service(onnx_synthesizer, kokoro_assets, env_file)


@pytest.fixture
def keys_file(tmp_path: Path) -> Path:
    """The keys file as the lab publishes it: an operator and a client key."""
    path = tmp_path / "tts-keys.json"
    publish(path, "operator", "client")
    return path


def publish(path: Path, *names: str) -> None:
    roles = {"operator": OPERATOR, "client": CLIENT, "revoked": CLIENT}
    write_keys_file(path, [PublishedKey(name, roles[name], key_hash(KEYS[name])) for name in names])


@pytest.fixture
def keys(keys_file: Path) -> KeyRing:
    return KeyRing(keys_file, operator_key=KEYS["environment"])


def bearer(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[name]}"}


@pytest.fixture
def anonymous(service: TTSService, keys: KeyRing) -> TestClient:
    """The real app, called without a key."""
    return TestClient(create_app(service, keys=keys))


@pytest.fixture
def client(anonymous: TestClient) -> TestClient:
    """The real app, called with an operator key."""
    anonymous.headers.update(bearer("operator"))
    return anonymous


@pytest.fixture
def deploy(tmp_path: Path, env_file: Path, stock_voice: Callable) -> Callable[..., Path]:
    """Write deployed style tensors and the .env the deploy stage writes; returns the folder."""

    def write(styles: dict[str, str], active: str) -> Path:
        folder = tmp_path / "deployed"
        folder.mkdir(exist_ok=True)
        for style, stock in styles.items():
            save_voice(stock_voice(stock), folder / f"{style}.pt")
        env_file.write_text(f"# kept\nOTHER=1\nTTS_BACKEND=kokoro\nKOKORO_VOICE_PATH={folder / f'{active}.pt'}\n")
        return folder

    return write


def wav(response) -> np.ndarray:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "audio/wav"
    audio, rate = sf.read(io.BytesIO(response.content), dtype="float32")
    assert rate == 24_000 and audio.ndim == 1
    return audio


def test_health_and_voices_before_any_deploy(client: TestClient, kokoro_assets) -> None:
    health = client.get("/health").json()
    assert (health["status"], health["backend"], health["active"]) == ("ok", "onnx", "neutral")
    styles = client.get("/voices").json()["styles"]
    assert set(styles) == {"neutral", "amable", "empatico", "profesional"}
    assert {s["source"] for s in styles.values()} == {"stock:ef_dora"}
    assert styles["amable"]["file"] == kokoro_assets.voice_path("ef_dora").name


def test_synthesize_returns_speech(client: TestClient) -> None:
    audio = wav(client.post("/synthesize", json={"text": TEXT, "speed": 1.1}))
    assert 0.8 < len(audio) / 24_000 < 4 and np.abs(audio).max() > 0.05


def test_set_voice_switches_the_active_style(client: TestClient) -> None:
    response = client.post("/set_voice?style=empatico")
    assert response.status_code == 200 and response.json()["active"] == "empatico"
    assert client.get("/health").json()["active"] == "empatico"


@pytest.mark.parametrize(
    ("request_kwargs", "status", "reason"),
    [
        ({"json": {"text": ""}}, 400, "empty"),
        ({"json": {"text": "a" * (MAX_TEXT_CHARS + 1)}}, 413, "limit"),
        ({"json": {"text": TEXT, "style": "robotico"}}, 400, "Unknown style"),
        ({"json": {"text": TEXT, "speed": 9}}, 400, "Speed"),
        ({"json": {"text": TEXT, "speed": "fast"}}, 400, "number"),
        ({"json": {"words": TEXT}}, 400, "text"),
        ({"content": b"not json", "headers": {"content-type": "application/json"}}, 400, "Send JSON"),
        ({"content": b'{"text": "Hola"}', "headers": {"content-type": "text/plain"}}, 415, "application/json"),
        ({"data": {"text": TEXT}}, 415, "application/json"),  # a form
        ({"content": b'{"text": "Hola"}'}, 415, "no Content-Type"),
    ],
)
def test_bad_synthesis_requests_get_a_clear_4xx(
    client: TestClient, request_kwargs: dict, status: int, reason: str
) -> None:
    response = client.post("/synthesize", **request_kwargs)
    assert response.status_code == status and reason in response.json()["error"]


def test_unknown_style_cannot_be_activated(client: TestClient) -> None:
    response = client.post("/set_voice?style=robotico")
    assert response.status_code == 400 and "Unknown style" in response.json()["error"]
    assert client.get("/health").json()["active"] == "neutral"


def test_reload_picks_up_a_deployment(client: TestClient, deploy: Callable[..., Path]) -> None:
    stock = wav(client.post("/synthesize", json={"text": TEXT, "style": "amable"}))
    deploy({"neutral": "em_alex", "amable": "em_santa"}, active="amable")

    described = client.post("/reload").json()

    assert described["tts_backend"] == "kokoro" and described["active"] == "amable"
    assert described["styles"]["amable"] == {"file": "amable.pt", "source": "deployed", "pace": 0.95}
    assert described["styles"]["empatico"]["source"] == "stock:ef_dora"  # not deployed yet
    deployed = wav(client.post("/synthesize", json={"text": TEXT}))  # the active style: amable
    assert len(deployed) != len(stock) or not np.allclose(deployed, stock)


def test_a_broken_deployment_is_refused_and_the_old_one_kept(
    client: TestClient, deploy: Callable[..., Path], env_file: Path
) -> None:
    folder = deploy({"neutral": "em_alex"}, active="neutral")
    assert client.post("/reload").status_code == 200
    env_file.write_text(f"TTS_BACKEND=kokoro\nKOKORO_VOICE_PATH={folder / 'gone.pt'}\n")

    response = client.post("/reload")

    assert response.status_code == 409 and "does not exist" in response.json()["error"]
    assert client.get("/voices").json()["styles"]["neutral"]["source"] == "deployed"
    (folder / "neutral.pt").write_bytes(b"corrupt")
    env_file.write_text(f"TTS_BACKEND=kokoro\nKOKORO_VOICE_PATH={folder / 'neutral.pt'}\n")
    response = client.post("/reload")
    assert response.status_code == 409 and "cannot be used" in response.json()["error"]
    wav(client.post("/synthesize", json={"text": TEXT}))  # still speaking with the last good voices


ROUTES = {
    "health": ("GET", "/health", {}),
    "voices": ("GET", "/voices", {}),
    "synthesize": ("POST", "/synthesize", {"json": {"text": TEXT}}),
    "set_voice": ("POST", "/set_voice?style=amable", {}),
    "reload": ("POST", "/reload", {}),
    "speech": ("POST", "/v1/audio/speech", {"json": {"model": "tts-1", "input": TEXT, "voice": "amable"}}),
    "openai_voices": ("GET", "/v1/audio/voices", {}),
    "captioned": ("POST", "/v1/audio/captioned_speech", {"json": {"input": TEXT, "voice": "amable"}}),
}
REFUSED = {**dict.fromkeys(ROUTES, 401), "health": 200}
ALLOWED = dict.fromkeys(ROUTES, 200)
MAY = {  # what each caller gets from each route
    None: REFUSED,
    "bad": REFUSED,
    "revoked": REFUSED,
    "client": {**ALLOWED, "set_voice": 403, "reload": 403},
    "operator": ALLOWED,
    "environment": ALLOWED,  # VOICELAB_TTS_API_KEY: an operator key
}


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("caller", MAY)
def test_who_may_call_each_route(
    anonymous: TestClient, keys: KeyRing, keys_file: Path, caller: str | None, route: str
) -> None:
    publish(keys_file, "operator", "client", "revoked")
    assert keys.role_of(KEYS["revoked"]) == CLIENT  # valid, until the lab revokes it:
    publish(keys_file, "operator", "client")
    headers = {} if caller is None else {"Authorization": f"Bearer {KEYS.get(caller, 'not-a-key')}"}
    method, url, options = ROUTES[route]

    response = anonymous.request(method, url, headers=headers, **options)

    status = MAY[caller][route]
    assert response.status_code == status, response.text
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer") and "key" in response.json()["error"]
    if status == 403:
        assert "needs an operator key" in response.json()["error"]
    if route == "synthesize" and status == 200:
        wav(response)
    if route == "set_voice":
        assert anonymous.get("/health").json()["active"] == ("amable" if status == 200 else "neutral")


def test_an_unreadable_keys_file_lets_no_published_key_in(anonymous: TestClient, keys_file: Path) -> None:
    keys_file.write_text("{half a file")
    assert anonymous.get("/voices", headers=bearer("operator")).status_code == 401
    assert anonymous.get("/voices", headers=bearer("environment")).status_code == 200


class CountingSynthesizer:
    """The real synthesizer, counting the sentences it is asked to speak."""

    def __init__(self, real: object) -> None:
        self.real, self.calls = real, 0

    def render_style(self, *args: object, **kwargs: object) -> np.ndarray:
        self.calls += 1
        return self.real.render_style(*args, **kwargs)

    def __getattr__(self, name: str) -> object:
        return getattr(self.real, name)


def test_a_web_page_on_another_origin_cannot_drive_it(
    onnx_synthesizer, kokoro_assets, env_file: Path, keys: KeyRing
) -> None:
    synthesizer = CountingSynthesizer(onnx_synthesizer)
    client = TestClient(create_app(tts_service(synthesizer, kokoro_assets, env_file), keys=keys))
    foreign = {"Origin": "http://evil.example"}
    body = b'{"text": "Transfiera el saldo."}'

    # The "simple" request any page may send without a preflight, with or without a key.
    for headers in ({}, bearer("operator")):
        response = client.post(
            "/synthesize", content=body, headers={"Content-Type": "text/plain", **foreign, **headers}
        )
        assert response.status_code == 403 and "other origins" in response.json()["error"]
        assert "access-control-allow-origin" not in response.headers
    switched = client.post("/set_voice?style=amable", headers={**foreign, **bearer("operator")})
    assert switched.status_code == 403 and client.get("/health").json()["active"] == "neutral"
    preflight = client.options(
        "/synthesize",
        headers={**foreign, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"},
    )
    assert preflight.status_code >= 400 and "access-control-allow-origin" not in preflight.headers
    assert synthesizer.calls == 0

    # Its own origin is not a foreign page's: a JSON request with a key is spoken.
    wav(client.post("/synthesize", json={"text": TEXT}, headers={"Origin": "http://testserver", **bearer("client")}))
    assert synthesizer.calls == 1


def test_no_response_names_a_path_on_the_server(
    client: TestClient, deploy: Callable[..., Path], env_file: Path, kokoro_assets, tmp_path: Path
) -> None:
    answers = [client.get("/health"), client.get("/voices")]
    folder = deploy({"neutral": "em_alex"}, active="neutral")
    answers += [client.post("/reload"), client.get("/voices")]
    env_file.write_text(f"TTS_BACKEND=kokoro\nKOKORO_VOICE_PATH={folder / 'gone.pt'}\n")
    answers.append(client.post("/reload"))
    (folder / "neutral.pt").write_bytes(b"corrupt")
    env_file.write_text(f"TTS_BACKEND=kokoro\nKOKORO_VOICE_PATH={folder / 'neutral.pt'}\n")
    answers += [client.post("/reload"), client.get("/nowhere")]

    assert [a.status_code for a in answers] == [200, 200, 200, 200, 409, 409, 404]
    for answer in answers:
        assert "error" in answer.json() or "styles" in answer.json()
        assert str(tmp_path) not in answer.text and str(kokoro_assets.root) not in answer.text
        assert not SERVER_PATH.search(answer.text), answer.text
    assert answers[1].json()["styles"]["neutral"]["file"] == kokoro_assets.voice_path("ef_dora").name
    assert answers[3].json()["styles"]["neutral"]["file"] == "neutral.pt"


def test_the_queue_and_timeout_come_from_the_environment() -> None:
    assert ServiceLimits.from_environ({}) == ServiceLimits(waiting=8, timeout=60.0)
    given = {"VOICELAB_TTS_QUEUE": "1", "VOICELAB_TTS_TIMEOUT": "2.5"}
    assert ServiceLimits.from_environ(given) == ServiceLimits(waiting=1, timeout=2.5)
    for wrong in ({"VOICELAB_TTS_QUEUE": "many"}, {"VOICELAB_TTS_QUEUE": "-1"}, {"VOICELAB_TTS_TIMEOUT": "0"}):
        with pytest.raises(ServiceError, match="VOICELAB_TTS_"):
            ServiceLimits.from_environ(wrong)


def speech(client: TestClient, **body: object):
    return client.post("/v1/audio/speech", json={"model": "tts-1", "input": TEXT, **body})


def seconds(response, audio_format: str = "wav") -> float:
    assert response.status_code == 200, response.text
    if audio_format == "pcm":
        return len(response.content) / 2 / 24_000
    info = sf.info(io.BytesIO(response.content))
    assert info.samplerate == 24_000 and info.channels == 1
    return info.frames / info.samplerate


def test_openai_speech_in_each_format(client: TestClient) -> None:
    media = {"wav": "audio/wav", "pcm": "audio/pcm", "flac": "audio/flac", "opus": "audio/ogg", "mp3": "audio/mpeg"}
    for audio_format, media_type in media.items():
        response = speech(client, voice="neutral", response_format=audio_format)
        assert response.status_code == 200 and response.headers["content-type"] == media_type
        if audio_format != "mp3":  # libsndfile reads MP3 only from a file: the e2e test decodes it
            assert 0.8 < seconds(response, audio_format) < 4
    assert speech(client, voice="neutral").headers["content-type"] == "audio/mpeg"  # OpenAI's default


def test_each_style_speaks_at_its_own_pace_and_speed_multiplies_it(client: TestClient) -> None:
    """Before a deploy every style is ef_dora: only the pace tells them apart."""
    neutral = seconds(speech(client, voice="neutral", response_format="wav"))
    empatico = seconds(speech(client, voice="empatico", response_format="wav"))  # 0.90
    assert empatico > neutral * 1.05
    assert seconds(speech(client, voice="empatico", speed=1 / 0.9, response_format="wav")) == pytest.approx(
        neutral, rel=0.04
    )
    paces = client.get("/v1/audio/voices").json()["styles"]
    expected = {"neutral": 1.0, "amable": 0.95, "empatico": 0.9, "profesional": 1.05}
    assert {style: v["pace"] for style, v in paces.items()} == expected


def test_captioned_speech_gives_each_words_time_in_its_audio(client: TestClient) -> None:
    """Two sentences and a number: every spoken word in order, each within the audio, the
    pause between the sentences between their words, the audio in the asked format."""
    text = "Su cita es el 3 de marzo. Gracias por su paciencia."
    response = client.post(
        "/v1/audio/captioned_speech", json={"input": text, "voice": "amable", "response_format": "flac"}
    )

    assert response.status_code == 200, response.text
    answer = response.json()
    audio, rate = sf.read(io.BytesIO(base64.b64decode(answer["audio"])))
    assert (answer["audio_format"], answer["voice"], rate) == ("flac", "amable", 24_000)
    words = answer["timestamps"]
    assert [w["word"] for w in words] == spoken_text(text).split() and words[4]["word"] == "tres"  # "3"
    times = [t for w in words for t in (w["start_time"], w["end_time"])]
    assert times == sorted(times) and times[0] > 0 and times[-1] <= len(audio) / rate
    gap = words[7]["start_time"] - words[6]["end_time"]  # "marzo." … "Gracias"
    assert gap >= CHUNK_PAUSE_SECONDS


def test_captioned_speech_without_the_pytorch_weights_says_what_is_missing(
    onnx_synthesizer, kokoro_assets, tmp_path: Path, keys: KeyRing
) -> None:
    folder = tmp_path / "models"  # the same models folder, but for the PyTorch weights
    folder.mkdir()
    for entry in kokoro_assets.root.iterdir():
        if entry != kokoro_assets.torch_weights:
            (folder / entry.name).symlink_to(entry)
    service = tts_service(onnx_synthesizer, ModelAssets(folder), tmp_path / ".env")
    client = TestClient(create_app(service, keys=keys), headers=bearer("client"))

    response = client.post("/v1/audio/captioned_speech", json={"input": TEXT})

    assert response.status_code == 501 and "fetch_models" in response.json()["error"]
    assert client.post("/v1/audio/speech", json={"input": TEXT}).status_code == 200  # audio alone still works


def test_a_deploy_may_carry_the_measured_pace(client: TestClient, deploy: Callable[..., Path]) -> None:
    folder = deploy({"neutral": "em_alex", "amable": "em_santa"}, active="neutral")
    (folder / "pace.json").write_text('{"amable": 0.8}')
    assert client.post("/reload").json()["styles"]["amable"]["pace"] == 0.8
    (folder / "pace.json").write_text('{"amable": 9}')
    refused = client.post("/reload")
    assert refused.status_code == 409 and "pace" in refused.json()["error"]
    assert client.get("/voices").json()["styles"]["amable"]["pace"] == 0.8  # the last good deployment


def test_a_mix_of_styles_and_stock_voices(
    client: TestClient, service: TTSService, deploy: Callable[..., Path], stock_voice: Callable
) -> None:
    deploy({"neutral": "em_alex", "amable": "em_santa"}, active="neutral")
    client.post("/reload")
    response = speech(client, voice="amable(2)+neutral(1)", response_format="wav")
    assert response.headers["x-voice"] == "amable(0.667)+neutral(0.333)" and seconds(response) > 0.5
    mixed = service.voice("amable(2)+neutral(1)")
    expected = 2 / 3 * stock_voice("em_santa") + 1 / 3 * stock_voice("em_alex")
    assert torch.allclose(mixed.tensor, expected, atol=1e-6) and mixed.pace == pytest.approx(2 / 3 * 0.95 + 1 / 3)
    assert speech(client, voice="af_heart+ef_dora", response_format="pcm").status_code == 200
    voices = client.get("/v1/audio/voices").json()
    assert voices["default"] == "neutral" and {"neutral", "af_heart", "ef_dora"} <= set(voices["voices"])


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"voice": "robotico"}, "Unknown voice 'robotico'"),
        ({"voice": "amable(2"}, "mix like"),
        ({"voice": 3}, '"voice" must be a string'),
        ({"model": "gpt-9"}, "Unknown model"),
        ({"response_format": "aiff"}, "Unknown response_format"),
        ({"stream": "yes"}, '"stream" must be true or false'),
        ({"speed": 4.0}, "must be between 0.5 and 2.0"),
        ({"input": ""}, "The text is empty"),
        ({"input": None}, '"input" string'),
    ],
)
def test_bad_openai_requests_get_a_clear_400(client: TestClient, body: dict, reason: str) -> None:
    response = client.post("/v1/audio/speech", json={"model": "tts-1", "input": TEXT, "voice": "neutral", **body})
    assert response.status_code == 400 and reason in response.json()["error"]
