"""Features and label encoding: log-mel spectrograms, standardisation, events <-> frames.

The pieces between a waveform and a model:

- :class:`FeatureConfig` says how a 10-s clip becomes a log-mel "image"
  ``[n_mels, frames]`` and how many frames the model outputs (``net_pooling``).
- :class:`LogMel` turns waveforms ``[batch, samples]`` into log-mel features
  ``[batch, n_mels, frames]`` exactly as the DCASE baseline does (magnitude
  mel spectrogram, Hamming window, dB with an amplitude floor, clamped).
- :class:`Scaler` standardises every mel bin with a mean and std fitted on
  training features; its statistics are buffers, so they travel inside
  checkpoints and ONNX exports.
- :class:`ManyHotEncoder` converts event lists ``(label, onset s, offset s)``
  into frame labels ``[classes, frames]`` at the *model output* resolution and
  back.
- :class:`FeatureCache` computes the features of a set of WAV files once and
  keeps them on disk (float16 ``.npy``) for later epochs and notebooks.

Taught in notebook 02.

The package's modules: :mod:`.logmel` (``FeatureConfig``, the presets' features, frame counts,
``LogMel``), :mod:`.scaler` (``Scaler``), :mod:`.encoder` (``ManyHotEncoder``: events <-> frames) and
:mod:`.cache` (``FeatureCache``, features computed once per split).
"""
from dualkd_lib.features.logmel import (
    AMPLITUDE_FLOOR,
    COURSE_FEATURES,
    DB_MAX,
    DB_MIN,
    DESED_FEATURES,
    FeatureConfig,
    LogMel,
    TINY_FEATURES,
    amplitude_to_db,
    instance_minmax,
    mel_center_frequencies,
    n_frames,
    n_output_frames,
    output_frame_seconds,
)
from dualkd_lib.features.scaler import (
    Scaler,
)
from dualkd_lib.features.encoder import (
    Event,
    Loader,
    ManyHotEncoder,
)
from dualkd_lib.features.cache import (
    CACHE_VERSION,
    FeatureCache,
    soundfile_loader,
)

__all__ = [
    "AMPLITUDE_FLOOR",
    "CACHE_VERSION",
    "COURSE_FEATURES",
    "DB_MAX",
    "DB_MIN",
    "DESED_FEATURES",
    "Event",
    "FeatureCache",
    "FeatureConfig",
    "Loader",
    "LogMel",
    "ManyHotEncoder",
    "Scaler",
    "TINY_FEATURES",
    "amplitude_to_db",
    "instance_minmax",
    "mel_center_frequencies",
    "n_frames",
    "n_output_frames",
    "output_frame_seconds",
    "soundfile_loader",
]
