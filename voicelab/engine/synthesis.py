"""Kokoro synthesis: one interface, two backends on well-kept libraries.

- ``onnx``: the int8 model on onnxruntime through the ``kokoro-onnx`` package; the
  fast path on CPU (2.7-3x real time on two cores, see the README's benchmark).
- ``torch``: the ``kokoro`` package's ``KModel``; the production path on a GPU,
  with the voice-independent text side cached per text and batched rendering of
  several voices at once (both pay on a GPU; on a 2-core CPU batching is slower).

Both take phonemes from the one Spanish G2P and pick the voice row by token count,
so they render the same utterance for the same text, voice and speed.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
from abc import ABC, abstractmethod
from collections import OrderedDict
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

import numpy as np
import torch
from kokoro_onnx.chunker import split_phonemes

from voicelab.engine.assets import ModelAssets
from voicelab.engine.errors import EngineError
from voicelab.engine.g2p import phonemize
from voicelab.engine.kmodel import build_kmodel
from voicelab.engine.voices import MAX_PHONEMES, check_voice

SAMPLE_RATE = 24_000
# Silence put between the chunks of a text too long for one pass.
CHUNK_PAUSE_SECONDS = 0.25
BACKENDS = ("onnx", "torch")
MIN_SPEED, MAX_SPEED = 0.5, 2.0
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")  # as kokoro-onnx's chunker cuts sentences
_CLAUSE_END = re.compile(r"[,;:—](?=\s|$)")
FIRST_CHUNK_PHONEMES = 40  # about 2.5 s of speech: a longer first sentence is cut at a clause
MIN_CLAUSE_PHONEMES = 6  # a first clause shorter than this ("Sí,") is kept with what follows


class SynthesisError(EngineError):
    """A request the synthesizer cannot render; the message says why."""


@dataclass(frozen=True)
class SynthesisConfig:
    """Which backend, on which device, with how many threads and processes.

    The defaults are what measured fastest on a 2-core CPU: onnx, one thread per
    process and one process per core for throughput (many candidates), all cores
    in one process for latency (one request).
    """

    backend: str = "onnx"
    device: str = "cpu"
    threads: int = 1
    processes: int = 1

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise SynthesisError(f"Unknown synthesis backend {self.backend!r}: use {' or '.join(BACKENDS)}.")
        if self.threads < 1 or self.processes < 1:
            raise SynthesisError("Threads and processes must be at least 1.")

    @classmethod
    def for_device(cls, *, throughput: bool, environ: os._Environ | dict = os.environ) -> SynthesisConfig:
        """Defaults per device, overridable by ``KOKORO_BACKEND``, ``KOKORO_DEVICE``,
        ``KOKORO_THREADS`` and ``KOKORO_PROCESSES``."""
        cores = os.cpu_count() or 1
        cuda = torch.cuda.is_available()
        device = environ.get("KOKORO_DEVICE") or ("cuda" if cuda else "cpu")
        backend = environ.get("KOKORO_BACKEND") or ("torch" if device == "cuda" else "onnx")
        # Only onnx on CPU spreads over processes (one thread each); anything else is one
        # process, which then gets every core.
        spread = throughput and device == "cpu" and backend == "onnx"
        threads = 1 if spread else cores
        processes = cores if spread else 1
        return cls(
            backend=backend,
            device=device,
            threads=int(environ.get("KOKORO_THREADS") or threads),
            processes=int(environ.get("KOKORO_PROCESSES") or processes),
        )


@cache
def load_vocab(config_path: Path) -> dict[str, int]:
    """Kokoro's phoneme → token id map, from the model's ``config.json``."""
    return json.loads(Path(config_path).read_text(encoding="utf-8"))["vocab"]


def token_ids(phonemes: str, vocab: dict[str, int]) -> list[int]:
    """Ids of the phonemes Kokoro knows; others are dropped, as kokoro and kokoro-onnx do."""
    return [vocab[p] for p in phonemes if p in vocab]


def style_row(phonemes: str, voice: torch.Tensor, vocab: dict[str, int]) -> torch.Tensor:
    """The row of ``voice`` for these phonemes: row n - 1 for n tokens, as in kokoro."""
    count = len(token_ids(phonemes, vocab))
    if not count:
        raise SynthesisError("None of the phonemes is in Kokoro's vocabulary.")
    if count > MAX_PHONEMES:
        raise SynthesisError(f"{count} phonemes is more than Kokoro's {MAX_PHONEMES} in one pass.")
    return voice[count - 1]


class Synthesizer(ABC):
    """Renders phonemes with a voice; ``synthesize`` handles whole texts of any length."""

    sample_rate = SAMPLE_RATE

    def __init__(self, assets: ModelAssets, config: SynthesisConfig) -> None:
        self.assets = assets
        self.config = config
        self.vocab = load_vocab(assets.config)

    def token_ids(self, phonemes: str) -> list[int]:
        return token_ids(phonemes, self.vocab)

    def style_row(self, phonemes: str, voice: torch.Tensor) -> torch.Tensor:
        return style_row(phonemes, voice, self.vocab)

    @abstractmethod
    def render_style(self, phonemes: str, style: torch.Tensor, speed: float = 1.0) -> np.ndarray:
        """Audio for one checked chunk with one style row [1, 256] (see ``render``)."""

    @abstractmethod
    def durations(self, phonemes: str, style: torch.Tensor, speed: float = 1.0) -> np.ndarray:
        """Kokoro's predicted frames per token (the pad tokens at both ends included) for one
        chunk: when each phoneme is spoken, for word timestamps."""

    def render(self, phonemes: str, voice: torch.Tensor, *, speed: float = 1.0) -> np.ndarray:
        """One utterance of at most 510 phonemes, exactly as the model outputs it."""
        _check_speed(speed)
        return self.render_style(phonemes, self.style_row(phonemes, voice), speed)

    def synthesize(self, text: str, voice: torch.Tensor, *, speed: float = 1.0) -> np.ndarray:
        """A whole text: split at sentence, then clause, then word boundaries under the limit."""
        voice = check_voice(voice)
        chunks = split_phonemes(phonemize(text), MAX_PHONEMES)
        pieces: list[np.ndarray] = []
        for chunk in chunks:
            pieces.extend([self.render(chunk, voice, speed=speed), pause()])
        return np.concatenate(pieces[:-1]).astype(np.float32)


def pause() -> np.ndarray:
    """The silence between two chunks of one text."""
    return np.zeros(round(CHUNK_PAUSE_SECONDS * SAMPLE_RATE), dtype=np.float32)


def timings_unavailable(assets: ModelAssets) -> str | None:
    """Why these models cannot time words (Kokoro's durations come from the PyTorch model), or None."""
    if assets.torch_weights.is_file():
        return None
    return (
        f"Word timings need Kokoro's PyTorch weights ({assets.torch_weights.name}), which this models "
        "folder lacks: fetch them (manage.py fetch_models)."
    )


def sentence_chunks(phonemes: str) -> list[str]:
    """One chunk per sentence (a long one split at clauses, then words, under the limit): what a
    stream renders one by one, so the first sentence is heard while the next is rendered.

    A long first sentence gives up its first clause as a chunk of its own (``Buenos días,``):
    the caller hears it after a fraction of a second instead of after the whole sentence."""
    chunks = [chunk for sentence in _SENTENCE_END.split(phonemes) for chunk in split_phonemes(sentence, MAX_PHONEMES)]
    if chunks and len(chunks[0]) > FIRST_CHUNK_PHONEMES:
        clause = _CLAUSE_END.search(chunks[0], MIN_CLAUSE_PHONEMES)
        if clause and clause.end() < len(chunks[0]):
            chunks[0:1] = [chunks[0][: clause.end()].strip(), chunks[0][clause.end() :].strip()]
    return chunks


def _check_speed(speed: float) -> None:
    if not MIN_SPEED <= speed <= MAX_SPEED:
        raise SynthesisError(f"Speed must be between {MIN_SPEED} and {MAX_SPEED}, not {speed}.")


class OnnxSynthesizer(Synthesizer):
    """int8 Kokoro on onnxruntime, driven through the ``kokoro-onnx`` package."""

    def __init__(self, assets: ModelAssets, config: SynthesisConfig) -> None:
        super().__init__(assets, config)
        import onnxruntime as ort
        from kokoro_onnx import Kokoro

        options = ort.SessionOptions()
        options.intra_op_num_threads = config.threads
        options.inter_op_num_threads = 1
        providers = ["CUDAExecutionProvider"] if config.device == "cuda" else []
        session = ort.InferenceSession(
            str(assets.onnx_model), sess_options=options, providers=[*providers, "CPUExecutionProvider"]
        )
        self._kokoro = Kokoro.from_session(session, voices_path=str(assets.voices_npz), vocab_config=str(assets.config))
        self._timing: TorchSynthesizer | None = None

    def render_style(self, phonemes: str, style: torch.Tensor, speed: float = 1.0) -> np.ndarray:
        # A voice of a single row: kokoro-onnx then uses exactly the row chosen by style_row.
        voice = style.reshape(1, 1, -1).numpy()
        audio, _ = self._kokoro.create(phonemes, voice=voice, speed=speed, is_phonemes=True, trim=False)
        return np.asarray(audio, dtype=np.float32)

    def durations(self, phonemes: str, style: torch.Tensor, speed: float = 1.0) -> np.ndarray:
        """From the PyTorch model's duration predictor (the int8 graph outputs audio only),
        loaded the first time timings are asked for: a few hundred MB a worker, only if used.
        They may differ from the int8 model's by a frame here and there."""
        if self._timing is None:
            if missing := timings_unavailable(self.assets):
                raise SynthesisError(missing)
            self._timing = TorchSynthesizer(self.assets, self.config)
        return self._timing.durations(phonemes, style, speed)


@dataclass
class _TextSide:
    """What Kokoro computes from the text alone, whatever the voice: cached per text."""

    input_ids: torch.Tensor  # [1, T] with the pad token at both ends
    lengths: torch.Tensor  # [1]
    mask: torch.Tensor  # [1, T], True where padding
    d_en: torch.Tensor  # ALBERT + projection, input of the duration/prosody predictor
    t_en: torch.Tensor  # text encoder output, input of the decoder


class TorchSynthesizer(Synthesizer):
    """``kokoro.KModel`` with its text side cached and several voices rendered in one batch.

    ``render_styles`` follows ``KModel.forward_with_tokens`` step by step; the only
    changes are the cache and a batch axis over voices (per-voice durations, alignments
    zero-padded to the longest, each output cut back to its own length).
    """

    TEXT_CACHE_SIZE = 64

    def __init__(self, assets: ModelAssets, config: SynthesisConfig) -> None:
        super().__init__(assets, config)
        torch.set_num_threads(config.threads)
        self.device = torch.device(config.device)
        self.model = build_kmodel(assets.config, assets.torch_weights).to(self.device).eval()
        self._text_cache: OrderedDict[tuple[int, ...], _TextSide] = OrderedDict()

    def render_style(self, phonemes: str, style: torch.Tensor, speed: float = 1.0) -> np.ndarray:
        return self.render_styles(phonemes, [style], speed)[0]

    def clear_text_cache(self) -> None:
        """Forget the cached text sides (the next render of any text computes its own)."""
        self._text_cache.clear()

    @property
    def cached_texts(self) -> int:
        return len(self._text_cache)

    def render_many(self, phonemes: str, voices: list[torch.Tensor], *, speed: float = 1.0) -> list[np.ndarray]:
        """The same text in several voices, in one batched forward pass."""
        _check_speed(speed)
        return self.render_styles(phonemes, [self.style_row(phonemes, v) for v in voices], speed)

    @torch.no_grad()
    def render_styles(self, phonemes: str, styles: list[torch.Tensor], speed: float = 1.0) -> list[np.ndarray]:
        return [audio.cpu().numpy() for audio in self.forward(phonemes, styles, speed)]

    @torch.no_grad()
    def durations(self, phonemes: str, style: torch.Tensor, speed: float = 1.0) -> np.ndarray:
        text = self._text_side(tuple(self.token_ids(phonemes)))
        _, pred_dur = self._predict_durations(text, style.reshape(1, -1).to(self.device), speed)
        return pred_dur[0].cpu().numpy()

    def _predict_durations(
        self, text: _TextSide, ref_s: torch.Tensor, speed: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The prosody encoding ``d`` of each style row [voices, tokens, ·] and its rounded
        frames per token [voices, tokens], as ``KModel.forward_with_tokens`` computes them."""
        count, model = ref_s.shape[0], self.model
        s = ref_s[:, 128:]
        lengths = text.lengths.expand(count)
        d = model.predictor.text_encoder(text.d_en.expand(count, -1, -1), s, lengths, text.mask.expand(count, -1))
        x, _ = model.predictor.lstm(d)
        duration = torch.sigmoid(model.predictor.duration_proj(x)).sum(dim=-1) / speed
        return d, torch.round(duration.detach()).clamp(min=1).long()

    def forward(self, phonemes: str, styles: list[torch.Tensor], speed: float = 1.0) -> list[torch.Tensor]:
        """The audio of each style row as tensors; run outside ``no_grad`` it is differentiable
        with respect to the rows (durations are rounded: the gradient flows through the pitch and
        energy curves and the decoder), which the gradient search uses."""
        text = self._text_side(tuple(self.token_ids(phonemes)))
        model, count = self.model, len(styles)
        ref_s = torch.cat([s.reshape(1, -1) for s in styles]).to(self.device)
        s = ref_s[:, 128:]
        d, pred_dur = self._predict_durations(text, ref_s, speed)  # pred_dur: [voices, tokens]
        alignment = _alignment(pred_dur)  # [voices, tokens, frames]
        en = d.transpose(-1, -2) @ alignment
        f0, noise = model.predictor.F0Ntrain(en, s)
        asr = text.t_en.expand(count, -1, -1) @ alignment
        audio = model.decoder(asr, f0, noise, ref_s[:, :128]).reshape(count, -1)
        per_frame = audio.shape[-1] // alignment.shape[-1]
        frames = pred_dur.sum(dim=-1)
        return [audio[i, : int(frames[i]) * per_frame] for i in range(count)]

    @torch.no_grad()
    def _text_side(self, ids: tuple[int, ...]) -> _TextSide:
        cached = self._text_cache.get(ids)
        if cached is not None:
            self._text_cache.move_to_end(ids)
            return cached
        model = self.model
        input_ids = torch.tensor([[0, *ids, 0]], dtype=torch.long, device=self.device)
        lengths = torch.tensor([input_ids.shape[-1]], device=self.device)
        mask = torch.zeros_like(input_ids, dtype=torch.bool)  # one text: nothing is padding
        bert = model.bert(input_ids, attention_mask=(~mask).int())
        side = _TextSide(
            input_ids=input_ids,
            lengths=lengths,
            mask=mask,
            d_en=model.bert_encoder(bert).transpose(-1, -2),
            t_en=model.text_encoder(input_ids, lengths, mask),
        )
        self._text_cache[ids] = side
        if len(self._text_cache) > self.TEXT_CACHE_SIZE:
            self._text_cache.popitem(last=False)
        return side


def _alignment(pred_dur: torch.Tensor) -> torch.Tensor:
    """One-hot token→frame alignment per voice, zero-padded to the longest voice."""
    voices, tokens = pred_dur.shape
    frames = int(pred_dur.sum(dim=-1).max())
    alignment = torch.zeros(voices, tokens, frames, device=pred_dur.device)
    for i in range(voices):
        token_of_frame = torch.repeat_interleave(torch.arange(tokens, device=pred_dur.device), pred_dur[i])
        alignment[i, token_of_frame, torch.arange(len(token_of_frame), device=pred_dur.device)] = 1
    return alignment


def create_synthesizer(assets: ModelAssets, config: SynthesisConfig) -> Synthesizer:
    """The configured backend; torch needs the PyTorch weights, onnx only the int8 model."""
    return TorchSynthesizer(assets, config) if config.backend == "torch" else OnnxSynthesizer(assets, config)


@dataclass(frozen=True)
class RenderJob:
    """One utterance to render: phonemes, the voice's row for them, and a speed."""

    phonemes: str
    style: torch.Tensor  # [1, 256]
    speed: float = 1.0


_worker: Synthesizer | None = None


def _start_worker(assets: ModelAssets, config: SynthesisConfig) -> None:
    global _worker
    _worker = create_synthesizer(assets, config)


def _render_job(job: RenderJob) -> np.ndarray:
    assert _worker is not None, "the pool initializer creates the worker's synthesizer"
    return _worker.render_style(job.phonemes, job.style, job.speed)


def _durations_job(job: RenderJob) -> np.ndarray:
    assert _worker is not None, "the pool initializer creates the worker's synthesizer"
    return _worker.durations(job.phonemes, job.style, job.speed)


class SynthesisPool:
    """Renders many utterances over ``config.processes`` processes of ``config.threads`` each.

    On a 2-core CPU two 1-thread onnx processes render ~45% more candidates per second
    than one 2-thread process (see the README's benchmark). With one process the
    work stays in this process; with more, this process holds no model at all.
    """

    def __init__(self, assets: ModelAssets, config: SynthesisConfig, *, local: Synthesizer | None = None) -> None:
        """``local``: a synthesizer this process already holds, to render with (one process)."""
        self.config = local.config if local is not None else config
        self.vocab = load_vocab(assets.config)
        self.local: Synthesizer | None = None
        self._executor: ProcessPoolExecutor | ThreadPoolExecutor | None = None
        if local is not None or config.processes == 1:
            self.local = local or create_synthesizer(assets, config)
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="synthesis")  # for submit
        else:
            # spawn: forking a process that already holds torch/onnxruntime threads can deadlock.
            self._executor = ProcessPoolExecutor(
                max_workers=config.processes,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker,
                initargs=(assets, replace(config, processes=1)),
            )

    def job(self, phonemes: str, voice: torch.Tensor, *, speed: float = 1.0) -> RenderJob:
        """A job for ``voice`` with its row for these phonemes picked here, so workers get 1 KB, not 0.5 MB."""
        _check_speed(speed)
        return RenderJob(phonemes, style_row(phonemes, voice, self.vocab).clone(), speed)

    def synthesize_many(self, text: str, voices: list[torch.Tensor], *, speed: float = 1.0) -> list[np.ndarray]:
        """One short text (one pass, ≤ 510 phonemes) in many voices: over the worker processes,
        or as one batch when this process holds a torch model (what pays on a GPU)."""
        phonemes = phonemize(text)
        if isinstance(self.local, TorchSynthesizer):
            return self.local.render_many(phonemes, voices, speed=speed)
        return self.render_many([self.job(phonemes, voice, speed=speed) for voice in voices])

    def render_many(self, jobs: list[RenderJob]) -> list[np.ndarray]:
        if self.local is not None:
            return [self.local.render_style(j.phonemes, j.style, j.speed) for j in jobs]
        return list(self._executor.map(_render_job, jobs))

    def submit(self, job: RenderJob) -> Future[np.ndarray]:
        """``job`` rendered in the background: by the next free worker process, or by this
        process's model on its own thread. Jobs start in the order they were submitted."""
        if self.local is not None:
            return self._executor.submit(self.local.render_style, job.phonemes, job.style, job.speed)
        return self._executor.submit(_render_job, job)

    def submit_durations(self, job: RenderJob) -> Future[np.ndarray]:
        """``job``'s predicted frames per token (``Synthesizer.durations``), like ``submit``."""
        if self.local is not None:
            return self._executor.submit(self.local.durations, job.phonemes, job.style, job.speed)
        return self._executor.submit(_durations_job, job)

    def close(self) -> None:
        self._executor.shutdown(cancel_futures=True)

    def __enter__(self) -> SynthesisPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
