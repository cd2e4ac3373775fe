"""Stage 2 through the pipeline's facade: a hybrid search (gradient, then the walk) from a start
chosen among the stock voices, stopped in its gradient part and resumed exactly."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from voicelab.engine.config import PipelineConfig
from voicelab.engine.evolution import Phase, StepEvent, WalkState
from voicelab.engine.pipeline import Pipeline
from voicelab.engine.reference import Reference, normalize_loudness, write_reference
from voicelab.engine.voices import load_voice

REFERENCE = "Buenos días, gracias por llamar. Le atiende el servicio de atención al cliente, ¿en qué puedo ayudarle?"


def hybrid(root: Path, kokoro_assets, reference: Reference, gradient_steps: int = 1, **callbacks: object) -> WalkState:
    config = PipelineConfig.from_env(
        root=root,
        environ={},
        styles=("neutral",),
        optimizer="hybrid",
        steps=2,
        gradient_steps=gradient_steps,
        seed=3,
        base_voices=("ef_dora", "em_alex", "af_heart"),
        interpolation_alphas=(0.0,),
        start_candidates=2,
    )
    write_reference(reference, config.paths.reference_audio("neutral"))
    with Pipeline(config, kokoro_assets.root).evolution() as evolution:
        return evolution.run("neutral", resume=(root / "evolved_voices/neutral.checkpoint").is_file(), **callbacks)


@pytest.fixture(scope="module")
def reference(onnx_synthesizer, stock_voice: Callable) -> Reference:
    return Reference(normalize_loudness(onnx_synthesizer.synthesize(REFERENCE, stock_voice("em_santa"))), ())


def test_a_hybrid_search_walks_on_from_the_gradient_and_resumes_exactly(
    kokoro_assets, torch_synthesizer, reference: Reference, tmp_path: Path
) -> None:
    events: list[StepEvent] = []
    phases: list[Phase] = []
    whole = hybrid(tmp_path / "whole", kokoro_assets, reference, on_step=events.append, on_phase=phases.append)
    assert [e.step for e in events] == [1, 2] and whole.optimizer == "walk"  # step 1 gradient, 2 walk
    # The two nearest of the three allowed voices and their midpoint, then the gradient judges its start.
    assert ("choosing a start voice", 3, 3) in [(p.name, p.done, p.total) for p in phases]
    assert phases[-1] == Phase("judging the start voice", 1, 1)
    assert whole.origin.split("~")[0] in {"ef_dora", "em_alex", "af_heart"}
    start = load_voice(tmp_path / "whole/start_voices/neutral.pt")
    assert torch.equal(start, whole.start) and not torch.equal(whole.best, start)
    assert load_voice(tmp_path / "whole/evolved_voices/neutral.pt").shape == (510, 1, 256)

    class Killed(Exception):
        pass

    def die_in_the_first_step(event: StepEvent) -> None:
        raise Killed  # the worker dies in the gradient's first step: the checkpoint holds its start

    with pytest.raises(Killed):
        hybrid(tmp_path / "killed", kokoro_assets, reference, on_step=die_in_the_first_step)
    assert WalkState.load(tmp_path / "killed/evolved_voices/neutral.checkpoint").optimizer == "gradient"
    resumed = hybrid(tmp_path / "killed", kokoro_assets, reference)
    assert resumed.step == 2 and [h["step"] for h in resumed.history] == [1, 2]
    assert (resumed.origin, resumed.start_score) == (whole.origin, whole.start_score)  # the same start, not re-chosen
    # Resumed in a fresh model (as after a worker's death) the voice agrees to float noise, which
    # Adam's normalised steps magnify; in the same model it is bit for bit (test_gradient.py).
    assert resumed.history[0]["score"] == pytest.approx(whole.history[0]["score"], abs=0.5)
    assert torch.allclose(resumed.best, whole.best, atol=0.05)


def test_a_cancel_in_the_gradient_part_ends_the_search_there(
    kokoro_assets, torch_synthesizer, reference: Reference, tmp_path: Path
) -> None:
    stopped = hybrid(tmp_path, kokoro_assets, reference, gradient_steps=2, should_stop=lambda: True)
    assert (stopped.step, stopped.optimizer) == (1, "gradient")  # no walk after it
    assert (tmp_path / "evolved_voices/neutral.pt").is_file()  # its best so far is kept
