"""Prosody features of one spoken take.

The single implementation shared by data labeling (is this take in the asked
style?) and distillation (does the evolved voice sound like the reference?).
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from dataclasses import asdict, dataclass

import librosa
import numpy as np
import parselmouth
import pyloudnorm
import scipy.signal

FRAME_SECONDS = 0.025  # usual speech analysis window: a few pitch periods long
HOP_SECONDS = 0.010
# A frame is speech when it is within 35 dB of the clip's loudest frame: quiet
# consonants stay in, room tone and breaths of a clean recording fall out.
SPEECH_THRESHOLD_DB = -35.0
# ...and never quieter than this, so that a near-silent clip is not "all speech".
SPEECH_FLOOR_DBFS = -60.0
MIN_PAUSE_SECONDS = 0.150  # shorter gaps are stop closures, not pauses
PITCH_FLOOR_HZ = 65.0  # below a low male voice
PITCH_CEILING_HZ = 500.0  # above a high female voice
END_FRACTION = 0.3  # share of the voiced stretch that counts as "the end"
LOUDNESS_BLOCK_SECONDS = 0.4  # pyloudnorm's gating block (ITU-R BS.1770)
# Syllable nuclei: intensity peaks at least this far apart and this much above
# their surroundings (after de Jong & Wempe 2009, "Praat script to detect
# syllable nuclei").
NUCLEUS_MIN_GAP_SECONDS = 0.08
NUCLEUS_PROMINENCE_DB = 2.0

_WORD = re.compile(r"[a-záéíóúüñ]+")
_SILENT_U = re.compile(r"(?<=[qg])u(?=[eiéí])")  # que, qui, gue, gui
_FINAL_Y = re.compile(r"y$")  # hoy, muy, rey: a vowel; yo, mayo: a consonant
_VOWELS = re.compile(r"[aeiouáéíóúü]+")
_STRONG = frozenset("aeoáéó")
_STRESSED_WEAK = frozenset("íú")


def count_syllables(text: str) -> int:
    """Count Spanish syllables from spelling: one per vowel nucleus.

    Within a run of vowels two strong vowels (a, e, o) are in hiatus, a
    stressed í/ú next to a strong vowel breaks the diphthong, and every other
    pair shares one nucleus. Digits and punctuation are ignored.
    """
    words = _WORD.findall(unicodedata.normalize("NFC", text).lower())
    return sum(_word_syllables(word) for word in words)


def _word_syllables(word: str) -> int:
    word = _FINAL_Y.sub("i", _SILENT_U.sub("", word))
    return sum(
        1 + sum(_is_hiatus(first, second) for first, second in itertools.pairwise(run)) for run in _VOWELS.findall(word)
    )


def _is_hiatus(first: str, second: str) -> bool:
    pair = {first, second}
    return pair <= _STRONG or bool(pair & _STRONG and pair & _STRESSED_WEAK)


@dataclass(frozen=True, eq=False)  # eq=False: comparing arrays with == is ambiguous
class FrameEnergy:
    """Frame-by-frame loudness of a clip and which frames hold speech."""

    rms: np.ndarray  # linear, one value per frame
    level_db: np.ndarray  # the same in dBFS, floored at -100 dB
    is_speech: np.ndarray
    hop_seconds: float

    def speech_runs(self) -> list[tuple[float, float]]:
        """Start and end, in seconds, of each stretch of consecutive speech frames."""
        edges = np.flatnonzero(np.diff(self.is_speech.astype(np.int8), prepend=0, append=0))
        return [
            (float(start * self.hop_seconds), float(end * self.hop_seconds))
            for start, end in zip(edges[::2], edges[1::2], strict=True)
        ]

    def speech_span(self) -> tuple[float, float] | None:
        """From the first speech frame to the end of the last one; None if silent."""
        runs = self.speech_runs()
        return (runs[0][0], runs[-1][1]) if runs else None

    def pause_seconds(self) -> float:
        """Total length of the silent gaps inside the span that are real pauses."""
        runs = self.speech_runs()
        gaps = (start - end for (_, end), (start, _) in itertools.pairwise(runs))
        return sum(gap for gap in gaps if gap > MIN_PAUSE_SECONDS)


def speech_frames(samples: np.ndarray, sample_rate: int) -> FrameEnergy:
    """Split a clip into speech and silence by frame RMS relative to its peak."""
    hop = round(HOP_SECONDS * sample_rate)
    rms = librosa.feature.rms(y=samples, frame_length=round(FRAME_SECONDS * sample_rate), hop_length=hop)[0]
    level_db = librosa.amplitude_to_db(rms, ref=1.0, top_db=None)
    threshold_db = max(level_db.max() + SPEECH_THRESHOLD_DB, SPEECH_FLOOR_DBFS)
    return FrameEnergy(rms, level_db, is_speech=level_db > threshold_db, hop_seconds=hop / sample_rate)


@dataclass(frozen=True)
class Prosody:
    """Prosody of one take; a field is None when the clip gives no way to measure it."""

    pitch_mean: float | None  # Hz, over voiced frames
    pitch_std: float | None  # semitones
    pitch_end_slope: float | None  # semitones per second; positive = rising end
    energy_mean_db: float | None  # dBFS, mean frame RMS over speech frames
    energy_std: float | None  # linear RMS, over speech frames
    loudness_lufs: float | None  # integrated loudness, ITU-R BS.1770
    speech_rate: float | None  # syllables per second of speech span
    pause_ratio: float | None  # share of the speech span spent in pauses
    speech_seconds: float  # from the start of the first to the end of the last speech

    def as_dict(self) -> dict[str, float | None]:
        """Plain floats and None, ready for JSON."""
        return {name: None if value is None else float(value) for name, value in asdict(self).items()}


def analyze_prosody(samples: np.ndarray, sample_rate: int, *, text: str | None = None) -> Prosody:
    """Measure pitch, energy, loudness, rhythm and pauses of a mono take.

    With ``text`` the syllable count comes from the spelling; without it,
    syllable nuclei are estimated from voiced intensity peaks.
    """
    energy = speech_frames(samples, sample_rate)
    pitch = parselmouth.Sound(samples.astype(np.float64), sampling_frequency=sample_rate).to_pitch(
        time_step=HOP_SECONDS, pitch_floor=PITCH_FLOOR_HZ, pitch_ceiling=PITCH_CEILING_HZ
    )
    # Positional, in field order: pitch, energy, loudness, rhythm.
    return Prosody(
        *_pitch_features(pitch),
        *_energy_features(energy),
        _loudness(samples, sample_rate),
        *_rhythm_features(energy, pitch, text),
    )


@dataclass(frozen=True, eq=False)
class Contours:
    """Frame-by-frame pitch (Hz, NaN where unvoiced) and level (dBFS) of a clip, to plot."""

    times: np.ndarray
    pitch_hz: np.ndarray
    level_db: np.ndarray

    def as_dict(self) -> dict[str, list[float | None]]:
        """Rounded lists, gaps as None (plotly draws None as a break in the line)."""

        def listed(values: np.ndarray, digits: int) -> list[float | None]:
            return [None if not np.isfinite(v) else round(float(v), digits) for v in values]

        return {
            "times": listed(self.times, 3),
            "pitch_hz": listed(self.pitch_hz, 1),
            "level_db": listed(self.level_db, 1),
        }


def contours(samples: np.ndarray, sample_rate: int) -> Contours:
    """Pitch and level on one 10 ms grid: what the dashboard plots against the target."""
    energy = speech_frames(samples, sample_rate)
    pitch = parselmouth.Sound(samples.astype(np.float64), sampling_frequency=sample_rate).to_pitch(
        time_step=HOP_SECONDS, pitch_floor=PITCH_FLOOR_HZ, pitch_ceiling=PITCH_CEILING_HZ
    )
    times = np.arange(len(energy.level_db)) * energy.hop_seconds
    hertz = pitch.selected_array["frequency"]
    # Praat's frames start half a window in: put its pitch on the energy grid, 0 Hz = unvoiced.
    on_grid = np.interp(times, pitch.xs(), np.where(hertz > 0, hertz, np.nan), left=np.nan, right=np.nan)
    level = np.where(energy.is_speech, energy.level_db, np.nan)
    return Contours(times, on_grid, level)


def _pitch_features(pitch: parselmouth.Pitch) -> tuple[float | None, float | None, float | None]:
    """Mean (Hz), spread (semitones) and end slope (semitones/s) of the voiced frames."""
    hertz = pitch.selected_array["frequency"]
    voiced = hertz > 0  # Praat marks unvoiced frames with 0 Hz
    if not voiced.any():
        return None, None, None
    times, hertz = pitch.xs()[voiced], hertz[voiced]
    # Semitones make spread and slope comparable between low and high voices.
    semitones = 12 * np.log2(hertz / hertz.mean())
    end = times >= times[0] + (1 - END_FRACTION) * (times[-1] - times[0])
    # Two points always fit a line exactly; ask for three before calling it a trend.
    slope = float(np.polyfit(times[end], semitones[end], 1)[0]) if end.sum() >= 3 else None
    return float(hertz.mean()), float(semitones.std()), slope


def _energy_features(energy: FrameEnergy) -> tuple[float | None, float | None]:
    """Mean level (dBFS) and spread (linear RMS) of the speech frames."""
    speech_rms = energy.rms[energy.is_speech]
    if not speech_rms.size:
        return None, None
    return float(librosa.amplitude_to_db(speech_rms.mean(), ref=1.0)), float(speech_rms.std())


def _rhythm_features(
    energy: FrameEnergy, pitch: parselmouth.Pitch, text: str | None
) -> tuple[float | None, float | None, float]:
    """Syllables per second, pause share and length of the speech span."""
    span = energy.speech_span()
    if span is None:
        return None, None, 0.0
    seconds = span[1] - span[0]
    # A text of digits only has no countable syllables: fall back to listening.
    syllables = count_syllables(text or "") or _count_nuclei(energy, pitch)
    return syllables / seconds, energy.pause_seconds() / seconds, seconds


def _loudness(samples: np.ndarray, sample_rate: int) -> float | None:
    if len(samples) < LOUDNESS_BLOCK_SECONDS * sample_rate:
        return None
    lufs = pyloudnorm.Meter(sample_rate).integrated_loudness(samples)
    return float(lufs) if np.isfinite(lufs) else None  # digital silence gives -inf


def _count_nuclei(energy: FrameEnergy, pitch: parselmouth.Pitch) -> int:
    """Estimate syllables as voiced intensity peaks that stand out from their neighbours.

    scipy's peak finder, not librosa's ``peak_pick``: that one is a numba gufunc with an
    on-disk cache, which several processes compiling at once can corrupt (numba#10128).
    """
    gap = round(NUCLEUS_MIN_GAP_SECONDS / energy.hop_seconds)
    peaks, _ = scipy.signal.find_peaks(energy.level_db, distance=gap, prominence=NUCLEUS_PROMINENCE_DB)
    voiced = [pitch.get_value_at_time(peak * energy.hop_seconds) > 0 for peak in peaks]
    return int(np.count_nonzero(energy.is_speech[peaks] & np.array(voiced, dtype=bool)))
