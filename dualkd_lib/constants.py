"""Constants shared by every module: the DESED classes and the clip format.

Taught in notebook 01 (the SED task and the data).
"""
from __future__ import annotations

#: The 10 DESED sound event classes, in the fixed order used for every
#: score matrix and label matrix of the course (``[..., classes, ...]``).
CLASSES: tuple[str, ...] = (
    "Alarm_bell_ringing",
    "Blender",
    "Cat",
    "Dishes",
    "Dog",
    "Electric_shaver_toothbrush",
    "Frying",
    "Running_water",
    "Speech",
    "Vacuum_cleaner",
)

#: Sample rate of every waveform the models see (Hz). Real DESED is 44.1 kHz
#: and is resampled to this once.
SAMPLE_RATE: int = 16_000

#: Length of one clip (seconds), as in DESED.
CLIP_SECONDS: float = 10.0

#: Name of the environment variable that selects the preset
#: (``tiny``, ``course`` or ``desed``).
PRESET_ENV_VAR: str = "DUALKD_PRESET"
#: Environment variable that overrides the notebooks' ``DATA_ROOT`` parameter.
DATA_ROOT_ENV_VAR: str = "DUALKD_DATA_ROOT"
