"""Tests of dualkd_lib/desed_io/audio.py: WAV loading, resampling, padding."""
from __future__ import annotations

import logging

import numpy as np
import pytest
import soundfile as sf
import torch

from dualkd_lib import desed_io as io

from desed_io_files import write_wav


def test_load_wav_mono_16k(tmp_path):
    path = write_wav(tmp_path / "a.wav", seconds=0.5)
    wave = io.load_wav(path)
    assert wave.dtype == torch.float32 and wave.shape == (8000,)
    assert wave.abs().max() <= 1.0


def test_load_wav_resamples_44k(tmp_path, caplog):
    path = write_wav(tmp_path / "a.wav", seconds=1.0, sr=44100)
    with caplog.at_level(logging.INFO, logger="dualkd_lib.desed_io"):
        io.audio._NOTED_RATES.clear()
        wave = io.load_wav(path)
        io.load_wav(path)
    assert wave.shape == (16000,)
    assert sum("Resampling" in r.message for r in caplog.records) == 1  # once per rate
    assert io.load_wav(path, target_sr=8000).shape == (8000,)


def test_load_wav_resample_keeps_a_tone(tmp_path):
    sr = 44100
    t = np.arange(sr) / sr
    sf.write(str(tmp_path / "tone.wav"), (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32), sr)
    wave = io.load_wav(tmp_path / "tone.wav").numpy()
    spectrum = np.abs(np.fft.rfft(wave))
    assert np.argmax(spectrum) == pytest.approx(1000, abs=2)  # bin = Hz for a 1-s clip


def test_load_wav_stereo_to_mono(tmp_path):
    sr = 16000
    left = np.full(100, 0.5, dtype=np.float32)
    right = np.full(100, -0.25, dtype=np.float32)
    sf.write(str(tmp_path / "st.wav"), np.stack([left, right], axis=1), sr, subtype="FLOAT")
    mono = io.load_wav(tmp_path / "st.wav")
    assert mono.shape == (100,)
    assert torch.allclose(mono, torch.full((100,), 0.125))
    both = io.load_wav(tmp_path / "st.wav", mono=False)
    assert both.shape == (2, 100)


def test_load_wav_errors(tmp_path):
    folder = tmp_path / "audio" / "validation_16k"
    folder.mkdir(parents=True)
    with pytest.raises(FileNotFoundError) as err:
        io.load_wav(folder / "missing.wav")
    assert "missing.wav" in str(err.value) and str(folder) in str(err.value)

    garbage = folder / "garbage.wav"
    garbage.write_bytes(b"this is not a wav file" * 10)
    with pytest.raises(ValueError, match="garbage.wav") as err:
        io.load_wav(garbage)
    assert isinstance(err.value.__cause__, sf.SoundFileError)

    empty = folder / "empty.wav"
    sf.write(str(empty), np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(ValueError, match=r"empty \(0 samples\)"):
        io.load_wav(empty)
    with pytest.raises(ValueError, match="target_sr"):
        io.load_wav(empty, target_sr=0)


def test_pad_or_trim():
    x = torch.arange(5.0)
    assert io.pad_or_trim(x, 5) is x
    assert io.pad_or_trim(x, 3).tolist() == [0.0, 1.0, 2.0]
    assert io.pad_or_trim(x, 7).tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 0.0, 0.0]
    assert io.pad_or_trim(torch.ones(2, 4), 6).shape == (2, 6)
    with pytest.raises(ValueError, match="n_samples"):
        io.pad_or_trim(x, 0)
