"""The fp32 Kokoro weights rebuilt from the int8 ONNX model (voicelab.engine.convert, run by ``manage.py convert_weights``).

The converter runs once per session, as its command line, in a child process (so its
time and peak memory are its own); the rebuilt ``KModel`` and the int8 ONNX model then
render the same phonemes, voice row and speed, and must agree on durations, spectra and
speaker. The int8 model also quantizes activations on the fly, so the two never match
sample for sample: a token whose predicted duration sits near x.5 frames can round
either way, and the thresholds below leave room for that and nothing more.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from voicelab.engine.assets import ModelAssets
from voicelab.engine.convert import (
    COMPONENTS,
    _module_path,
    _torch_gate_order,
    rebuild_state_dict,
)
from voicelab.engine.kmodel import build_kmodel
from voicelab.engine.voices import style_for

REPO = Path(__file__).resolve().parents[2]
SAMPLE_RATE = 24_000
FRAME_SAMPLES = 600  # one predicted duration unit is 600 samples at 24 kHz

VOICES = ("ef_dora", "em_alex")
SENTENCES = (
    "Buenos días, gracias por llamar.",
    "El perro corre por el parque.",
    "¿Dónde está la estación de tren?",
)
SPEED = 1.0

# KModel's state dict for the config shipped with kokoro-onnx (Kokoro v1.0).
KEY_COUNT = 688
MAX_CONVERSION_SECONDS = 60
MAX_CONVERSION_MB = 3 * 1024


@dataclass(frozen=True)
class Conversion:
    pth: Path
    seconds: float
    peak_mb: float


@dataclass(frozen=True)
class Rendering:
    audio: np.ndarray
    durations: np.ndarray  # frames per token, start/end pads included


# ``manage.py`` run so that the child writes its own peak on exit: its VmHWM, which starts afresh
# at exec. (The rusage maximum does not: it keeps the forked copy of this test process, which
# holds gigabytes once the gradient tests have run.)
MEASURED_MANAGE = """
import runpy, sys
try:
    sys.argv = ["manage.py", *sys.argv[2:]]
    runpy.run_path("manage.py", run_name="__main__")
finally:
    status = open("/proc/self/status").read().splitlines()
    peak = next(line for line in status if line.startswith("VmHWM:"))
    open(PEAK, "w").write(peak.split()[1])
"""


@pytest.fixture(scope="session")
def conversion(kokoro_assets: ModelAssets, tmp_path_factory: pytest.TempPathFactory) -> Conversion:
    """``manage.py convert_weights`` in a child process, timed, its peak RSS measured."""
    out = tmp_path_factory.mktemp("kokoro-pth") / "kokoro-v1_0.pth"
    logs = tmp_path_factory.mktemp("kokoro-convert-log")
    code = MEASURED_MANAGE.replace("PEAK", repr(str(logs / "peak_kib")))
    command = [sys.executable, "-c", code, "-", "convert_weights", kokoro_assets.onnx_model, kokoro_assets.config, out]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    with (logs / "convert.log").open("w+b") as log:
        start = time.perf_counter()
        child = subprocess.run(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, check=False)
        seconds = time.perf_counter() - start
        log.seek(0)
        assert child.returncode == 0, log.read().decode(errors="replace")[-3000:]
    return Conversion(out, seconds, int((logs / "peak_kib").read_text()) / 1024)


@pytest.fixture(scope="session")
def rebuilt(conversion: Conversion) -> dict[str, dict[str, torch.Tensor]]:
    return torch.load(conversion.pth, map_location="cpu", weights_only=True)


@pytest.fixture(scope="session")
def kmodel(kokoro_assets: ModelAssets, conversion: Conversion):
    """The ``kokoro`` package's KModel on the rebuilt weights, fully offline."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        return build_kmodel(kokoro_assets.config, conversion.pth).eval()


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _onnx_session_with_durations(onnx_path: Path):
    """The int8 model with its per-token durations exposed as a second output.

    KModel computes ``round(sum(sigmoid(duration_proj)) / speed).clamp(min=1).long()``;
    in the graph that is the only Round, then a Clip, then a Cast to int64.
    """
    import onnx
    import onnxruntime

    model = onnx.load(str(onnx_path))
    after = {name: node for node in model.graph.node for name in node.input}
    (round_node,) = [node for node in model.graph.node if node.op_type == "Round"]
    clip = after[round_node.output[0]]
    cast = after[clip.output[0]]
    assert (clip.op_type, cast.op_type) == ("Clip", "Cast"), (clip.op_type, cast.op_type)
    model.graph.output.append(onnx.helper.make_tensor_value_info(cast.output[0], onnx.TensorProto.INT64, None))
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 2
    return onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


@pytest.fixture(scope="session")
def renderings(kokoro_assets: ModelAssets, kmodel, stock_voice) -> dict[tuple[str, str, str], Rendering]:
    """``{(backend, voice, sentence): Rendering}`` for both backends, same inputs."""
    from voicelab.engine.g2p import phonemize

    vocab = json.loads(kokoro_assets.config.read_text(encoding="utf-8"))["vocab"]
    session = _onnx_session_with_durations(kokoro_assets.onnx_model)
    result: dict[tuple[str, str, str], Rendering] = {}
    for voice in VOICES:
        pack = stock_voice(voice)
        for sentence in SENTENCES:
            phonemes = phonemize(sentence)
            style = style_for(pack, len(phonemes)).numpy()  # [1, 256], the row kokoro picks
            tokens = np.array([[0, *(vocab[p] for p in phonemes if p in vocab), 0]], dtype=np.int64)
            audio, durations = session.run(
                None, {"tokens": tokens, "style": style, "speed": np.array([SPEED], dtype=np.float32)}
            )
            result["onnx", voice, sentence] = Rendering(audio.reshape(-1), durations.reshape(-1))
            torch.manual_seed(0)  # the harmonic source adds noise
            with torch_threads(2):
                output = kmodel(phonemes, torch.from_numpy(style), speed=SPEED, return_output=True)
            result["torch", voice, sentence] = Rendering(output.audio.numpy(), output.pred_dur.numpy())
    return result


def _pairs(renderings: dict) -> Iterator[tuple[str, str, Rendering, Rendering]]:
    for voice in VOICES:
        for sentence in SENTENCES:
            yield voice, sentence, renderings["torch", voice, sentence], renderings["onnx", voice, sentence]


def _log_mel(audio: np.ndarray) -> np.ndarray:
    import librosa

    mel = librosa.feature.melspectrogram(y=audio, sr=SAMPLE_RATE, n_fft=1024, hop_length=256, n_mels=80)
    return np.log(mel + 1e-5)


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel(), b.ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def _aligned_centered_cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine of two log-mels after DTW alignment, each band's mean removed.

    Raw log-mel cosine is dominated by the shared spectral tilt (a different voice on
    the same text still scores ~0.95); centering keeps only the movement, and DTW
    absorbs the one-frame duration differences instead of letting them shift the rest.
    """
    import librosa

    _, path = librosa.sequence.dtw(X=a, Y=b, metric="cosine")
    path = path[::-1]
    x, y = a[:, path[:, 0]], b[:, path[:, 1]]
    return _cosine(x - x.mean(axis=1, keepdims=True), y - y.mean(axis=1, keepdims=True))


# --- mapping helpers (no assets needed) -------------------------------------------------


@pytest.mark.parametrize(
    ("node", "module"),
    [
        ("/encoder/text_encoder/cnn.0/cnn.0.0/Conv_quant", "text_encoder.cnn.0.0"),
        (
            "/encoder/bert/encoder/albert_layer_groups.0/albert_layers.0/attention_7/query/MatMul_quant",
            "bert.encoder.albert_layer_groups.0.albert_layers.0.attention.query",
        ),
        ("/encoder/bert_encoder/MatMul_quant", "bert_encoder"),
        ("/encoder/shared/LSTM_quant", "predictor.shared"),
        ("/encoder/F0.1/conv1x1/Conv_quant", "predictor.F0.1.conv1x1"),
        ("/encoder/N_proj/Conv_quant", "predictor.N_proj"),
        ("/encoder/predictor/text_encoder/lstms.2/LSTM_quant", "predictor.text_encoder.lstms.2"),
        ("/decoder/decoder/asr_res/asr_res.0/Conv_quant", "decoder.asr_res.0"),
        ("/decoder/decoder/generator/resblocks.4/convs2.1/Conv_quant", "decoder.generator.resblocks.4.convs2.1"),
    ],
)
def test_node_scopes_map_to_kmodel_modules(node: str, module: str) -> None:
    assert _module_path(node) == module


def test_lstm_gates_are_reordered_from_onnx_to_torch() -> None:
    onnx_order = np.repeat(np.array([1.0, 2.0, 3.0, 4.0], dtype=np.float32), 2)  # i, o, f, c
    assert _torch_gate_order(onnx_order).tolist() == [1, 1, 3, 3, 4, 4, 2, 2]  # i, f, g(=c), o


# --- the converter ----------------------------------------------------------------------


def test_conversion_is_fast_small_and_atomic(conversion: Conversion) -> None:
    assert conversion.seconds < MAX_CONVERSION_SECONDS, f"{conversion.seconds:.1f} s"
    assert conversion.peak_mb < MAX_CONVERSION_MB, f"{conversion.peak_mb:.0f} MB"
    assert [p.name for p in conversion.pth.parent.iterdir()] == [conversion.pth.name], "a temp file was left behind"
    print(f"conversion: {conversion.seconds:.1f} s, peak RSS {conversion.peak_mb:.0f} MB")


def test_every_kmodel_key_is_mapped_and_loads_strictly(rebuilt: dict, kmodel) -> None:
    assert list(rebuilt) == list(COMPONENTS)
    assert sum(len(state) for state in rebuilt.values()) == KEY_COUNT
    for component in COMPONENTS:
        module = getattr(kmodel, component)
        assert set(rebuilt[component]) == set(module.state_dict()), component
        # strict=True raises on any missing or unexpected key ...
        module.load_state_dict(rebuilt[component], strict=True)
        # ... and KModel itself took the strict path: its non-strict fallback (for the
        # hub file's "module." prefixes) would have left these at their random init.
        for key, value in module.state_dict().items():
            assert torch.equal(value, rebuilt[component][key]), f"{component}.{key}"


def test_rebuilt_weights_are_finite_fp32(rebuilt: dict) -> None:
    for component, state in rebuilt.items():
        for key, value in state.items():
            assert value.dtype == torch.float32 and torch.isfinite(value).all(), f"{component}.{key}"
            if key.endswith("weight_v"):  # the weight KModel will compute: g * v / ||v||
                g = state[key.removesuffix("_v") + "_g"]
                norm = torch.linalg.vector_norm(value, dim=tuple(range(1, value.ndim)), keepdim=True)
                assert torch.isfinite(g * value / norm).all(), f"{component}.{key} has a 0/0 channel"


def test_converter_is_deterministic(kokoro_assets: ModelAssets, rebuilt: dict) -> None:
    again = rebuild_state_dict(kokoro_assets.onnx_model, kokoro_assets.config)
    assert list(again) == list(rebuilt)
    for component in COMPONENTS:
        assert list(again[component]) == list(rebuilt[component]), component
        for key, value in again[component].items():
            assert torch.equal(value, rebuilt[component][key]), f"{component}.{key}"


# --- the rebuilt torch model against the int8 ONNX model --------------------------------


def test_durations_agree(renderings: dict) -> None:
    matching = total = 0
    for voice, sentence, torch_take, onnx_take in _pairs(renderings):
        assert np.isfinite(torch_take.audio).all(), (voice, sentence)
        assert torch_take.durations.shape == onnx_take.durations.shape, (voice, sentence)
        seconds = len(onnx_take.audio) / SAMPLE_RATE
        difference = abs(len(torch_take.audio) - len(onnx_take.audio)) / len(onnx_take.audio)
        assert difference <= 0.05, f"{voice} {sentence!r}: {difference:.1%} of {seconds:.2f} s"
        # The audio is exactly the predicted durations long on both sides.
        for take in (torch_take, onnx_take):
            assert len(take.audio) == FRAME_SAMPLES * take.durations.sum(), (voice, sentence)
        matching += int((torch_take.durations == onnx_take.durations).sum())
        total += len(onnx_take.durations)
        print(
            f"{voice} {sentence!r}: {seconds:.2f} s, length differs {difference:.2%}, "
            f"{int((torch_take.durations != onnx_take.durations).sum())} of {len(onnx_take.durations)} tokens differ"
        )
    assert matching / total >= 0.95, f"only {matching} of {total} token durations agree"
    print(f"token durations agree: {matching}/{total} = {matching / total:.1%}")


def test_log_mel_spectrograms_agree(renderings: dict) -> None:
    for voice, sentence, torch_take, onnx_take in _pairs(renderings):
        a, b = _log_mel(torch_take.audio), _log_mel(onnx_take.audio)
        frames = min(a.shape[1], b.shape[1])
        raw = _cosine(a[:, :frames], b[:, :frames])
        aligned = _aligned_centered_cosine(a, b)
        print(f"{voice} {sentence!r}: log-mel cosine {raw:.4f}, aligned and centered {aligned:.4f}")
        assert raw >= 0.9, f"{voice} {sentence!r}: {raw:.4f}"
        assert aligned >= 0.95, f"{voice} {sentence!r}: {aligned:.4f}"


def test_speaker_embeddings_agree(renderings: dict) -> None:
    """Same voice across backends ~0.98 (3 sentences together); another voice ~0.8."""
    from resemblyzer import VoiceEncoder, preprocess_wav

    with torch_threads(1):  # resemblyzer collapses under load with more
        encoder = VoiceEncoder("cpu", verbose=False)

        def embed(backend: str, voice: str) -> np.ndarray:
            audio = np.concatenate([renderings[backend, voice, sentence].audio for sentence in SENTENCES])
            return encoder.embed_utterance(preprocess_wav(audio, source_sr=SAMPLE_RATE))

        embeddings = {(backend, voice): embed(backend, voice) for backend in ("torch", "onnx") for voice in VOICES}
    same = {voice: _cosine(embeddings["torch", voice], embeddings["onnx", voice]) for voice in VOICES}
    other = _cosine(embeddings["torch", VOICES[0]], embeddings["onnx", VOICES[1]])
    print(f"speaker cosine torch vs onnx: {same}; {VOICES[0]} vs {VOICES[1]}: {other:.4f}")
    for voice, similarity in same.items():
        assert similarity >= 0.95, f"{voice}: {similarity:.4f}"
        assert similarity > other, f"{voice}: {similarity:.4f} is no closer than another voice ({other:.4f})"
