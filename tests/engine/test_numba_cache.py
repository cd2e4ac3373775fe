"""Processes analysing takes at once never share a numba cache (numba#10128)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

ANALYSE_A_TAKE = """
import os, sys
from voicelab.engine.audio import read_audio
from voicelab.engine.quality import assess_take
from voicelab.engine.prosody import analyze_prosody
audio = read_audio(sys.argv[1])
assess_take(audio, text=sys.argv[2], style="neutral", baseline=None)
analyze_prosody(audio.samples, audio.sample_rate)  # no text: syllable nuclei from peaks
print(os.environ["NUMBA_CACHE_DIR"])
"""

CLAIM = "from voicelab.engine import numba_cache; print(numba_cache.claim())"


def _python(code: str, *args: str, cache_root: Path) -> subprocess.Popen:
    return _run([sys.executable, "-c", code, *args], cache_root=cache_root)


def _run(command: list[str], *, cache_root: Path) -> subprocess.Popen:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("NUMBA_", "VOICELAB_NUMBA"))}
    environment.update(NUMBA_CACHE_DIR=str(cache_root), PYTHONPATH=str(ROOT))
    return subprocess.Popen(command, cwd=ROOT, env=environment, stdout=subprocess.PIPE, text=True)


@pytest.mark.slow  # four processes compiling librosa's gufuncs on a cold cache: a minute
@pytest.mark.timeout(900)
def test_take_analyses_started_apart_on_one_cold_cache_never_crash(
    espeak_wav: Callable[..., Path], greeting_text: str, tmp_path: Path
) -> None:
    """The crash of the issue: processes started a fraction of a second apart on one empty
    cache compiled librosa's gufuncs at once, and one of them died with SIGSEGV. A crash was
    chance (one process in six on 42582fb); what prevents it is certain and asserted: no two
    processes ever compile into the same folder."""
    take = espeak_wav(greeting_text)
    processes = []
    for delay in (0.1, 0.3, 0.6, 1.0):
        processes.append(_python(ANALYSE_A_TAKE, str(take), greeting_text, cache_root=tmp_path))
        time.sleep(delay)  # the stagger is the scenario, not a wait for something
    outputs = [process.communicate(timeout=600)[0].strip() for process in processes]
    assert [process.returncode for process in processes] == [0] * len(processes)
    assert len(set(outputs)) == len(processes), "each process had a cache folder of its own"
    assert all(Path(folder).parent == tmp_path for folder in outputs)


def test_a_slot_is_reused_after_a_clean_exit_and_emptied_after_a_kill(tmp_path: Path) -> None:
    first = _python(CLAIM, cache_root=tmp_path)
    slot = Path(first.communicate(timeout=120)[0].strip())
    (slot / "compiled.nbc").write_text("a cache file")
    second = _python(CLAIM, cache_root=tmp_path)
    assert Path(second.communicate(timeout=120)[0].strip()) == slot
    assert (slot / "compiled.nbc").exists(), "a clean exit keeps the warm cache"

    holder = _python(CLAIM + "; import sys, time; sys.stdout.flush(); time.sleep(600)", cache_root=tmp_path)
    assert Path(holder.stdout.readline().strip()) == slot
    other = _python(CLAIM, cache_root=tmp_path)
    assert Path(other.communicate(timeout=120)[0].strip()) != slot, "a live owner's slot is never shared"
    holder.kill()
    holder.wait(timeout=60)
    after_kill = _python(CLAIM, cache_root=tmp_path)
    assert Path(after_kill.communicate(timeout=120)[0].strip()) == slot
    assert not (slot / "compiled.nbc").exists(), "what a killed owner left may be half-written"


def test_a_spawned_child_claims_its_own_slot(tmp_path: Path) -> None:
    code = (
        "import multiprocessing as mp\n"
        "from voicelab.engine import numba_cache\n"
        "def child(): return str(numba_cache.claim())\n"
        "if __name__ == '__main__':\n"
        "    mine = numba_cache.claim()\n"
        "    with mp.get_context('spawn').Pool(1) as pool: theirs = pool.apply(child)\n"
        "    print(mine, theirs)\n"
    )
    script = tmp_path / "spawn_child.py"
    script.write_text(code)
    process = _run([sys.executable, str(script)], cache_root=tmp_path)
    mine, theirs = process.communicate(timeout=120)[0].split()
    assert mine != theirs
    assert Path(mine).parent == Path(theirs).parent == tmp_path


def test_a_process_about_to_exec_gives_its_slot_back_warm(tmp_path: Path) -> None:
    """runlab hands its process over to supervisord with exec, which runs no exit handlers."""
    code = (
        "import os, sys, time\n"
        "from voicelab.engine import numba_cache\n"
        "slot = numba_cache.claim(); (slot / 'compiled.nbc').write_text('warm')\n"
        "numba_cache.release(); print(slot, os.environ['NUMBA_CACHE_DIR']); sys.stdout.flush(); time.sleep(600)\n"
    )
    exec_like = _python(code, cache_root=tmp_path)
    slot, handed_on = exec_like.stdout.readline().split()
    try:
        assert Path(handed_on) == tmp_path, "its children share out the root again"
        after = _python(CLAIM, cache_root=tmp_path)
        assert after.communicate(timeout=120)[0].strip() == slot
        assert (Path(slot) / "compiled.nbc").exists()
    finally:
        exec_like.kill()
        exec_like.wait(timeout=60)
