"""A conversation in the background is not a person at the table: live, a new voice far quieter
than the meeting that talks over it becomes a background voice (joined by its later speech, never
decided for anyone); a quiet person who takes turns is a person."""

from __future__ import annotations

import numpy as np

from tracker.audio import SAMPLE_RATE
from tracker.stages.voices import Local, VoiceClustering, VoiceConfig

SR = SAMPLE_RATE


def direction(k: int) -> np.ndarray:
    v = np.zeros(16, np.float32)
    v[k] = 1.0
    return v


def establish(clus: VoiceClustering, k: int, level: float, *, overlapped: float = 0.0) -> int:
    """Three chunks of voice ``k`` (1 s of clean speech each) at ``level`` dB, ``overlapped`` of its
    speech under someone else; the voice it became."""
    track = None
    for _ in range(3):
        (track,) = clus.assign([Local(direction(k), SR, track, level, SR, int(overlapped * SR))])
    clus.promote(SR)
    return clus.track(track)


def test_a_quiet_voice_that_talks_over_the_meeting_is_background_and_a_quiet_turn_taker_is_not() -> None:
    clus = VoiceClustering(VoiceConfig())
    a = establish(clus, 0, -30.0)
    b = establish(clus, 1, -33.0, overlapped=0.1)
    assert a >= 0 and b >= 0 and clus.background == set()
    assert clus.level() is not None and -33 <= clus.level() <= -30  # type: ignore[operator]
    behind = establish(clus, 2, -50.0, overlapped=0.6)
    assert behind >= 0 and clus.background == {behind}
    (again,) = clus.assign([Local(direction(2), SR, None, -50.0, SR, SR)])
    assert again == behind, "its later speech joins the background voice"
    quiet = establish(clus, 3, -50.0, overlapped=0.0)
    assert quiet >= 0 and quiet not in clus.background
    assert establish(VoiceClustering(VoiceConfig(background=None)), 2, -50.0, overlapped=0.6) >= 0


def test_the_first_voice_is_never_background_and_levels_are_optional() -> None:
    clus = VoiceClustering(VoiceConfig())
    first = establish(clus, 2, -50.0, overlapped=0.6)
    assert clus.background == set() and first >= 0
    track = None
    for _ in range(3):
        (track,) = clus.assign([Local(direction(4), SR, track)])
    clus.promote(SR)
    assert clus.track(track) >= 0 and clus.background == set()
