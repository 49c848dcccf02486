"""Tests of dualkd_lib/desed_real/prepare.py on a fake DESED tree at 44.1 kHz (tests/fake_desed.py)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from dualkd_lib import desed_io, desed_real
from dualkd_lib.layout import SPLITS

from fake_desed import CORRUPT, SR_44K


def test_prepare_resamples_and_reports(prepared, clips) -> None:
    root, report = prepared
    assert list(report.splits) == list(SPLITS)
    strong = report.splits["strong"]
    assert (strong.status, strong.found, strong.written, strong.listed) == ("resampled", 3, 3, 4)
    assert strong.listed_missing == ("s_gone.wav",)
    weak = report.splits["weak"]
    assert weak.unreadable == (CORRUPT,) and weak.found == 2 and weak.listed_missing == (CORRUPT,)
    assert report.splits["validation"].listed_missing == ("v_gone.wav",)
    assert report.splits["unlabeled"].complete and report.splits["evaluation"].complete
    assert not report.complete
    text = report.summary()
    assert "s_gone.wav" in text and "unreadable source files (skipped): 1" in text and "Incomplete" in text
    assert "- strong: 1 of 4 listed clips" in report.missing_summary()
    assert report.to_frame().set_index("split").loc["weak", "unreadable"] == 1

    # 16 kHz copies that sound like the clips they came from
    out = root / SPLITS["strong"].audio_dir / "s0.wav"
    wave, sr = sf.read(out, dtype="float32")
    original = clips["s0.wav"][0]
    assert sr == 16000 and len(wave) == len(original)
    assert np.corrcoef(wave, original)[0, 1] > 0.99


def test_prepare_is_idempotent_and_never_overwrites(prepared, tmp_path: Path) -> None:
    root, _ = prepared
    target = root / SPLITS["unlabeled"].audio_dir / "u0.wav"
    before = target.stat().st_mtime_ns
    again = desed_real.prepare_desed(root, progress=False)
    assert again.splits["strong"].written == 0 and again.splits["strong"].kept == 3
    assert target.stat().st_mtime_ns == before
    # a user's file at the wrong rate in a _16k folder is left alone and reported
    user_file = root / SPLITS["evaluation"].audio_dir / "e0.wav"
    data = user_file.read_bytes()
    sf.write(user_file, np.zeros(4410, dtype=np.float32), SR_44K)
    user_bytes = user_file.read_bytes()
    third = desed_real.prepare_desed(root, progress=False)
    assert third.splits["evaluation"].conflicts == ("e0.wav",) and user_file.read_bytes() == user_bytes
    user_file.write_bytes(data)  # restore for the other tests
    # an interrupted run: a temporary file is cleaned up, the missing copy written
    (root / SPLITS["unlabeled"].audio_dir / "u1.wav").unlink()
    (root / SPLITS["unlabeled"].audio_dir / ".dualkd-resample-u1.wav").write_bytes(b"partial")
    resumed = desed_real.prepare_desed(root, progress=False)
    assert resumed.splits["unlabeled"].written == 1 and resumed.splits["unlabeled"].kept == 1
    assert not list((root / SPLITS["unlabeled"].audio_dir).glob(".dualkd-resample-*"))


def test_prepare_to_another_root_and_missing_splits(prepared, tmp_path: Path) -> None:
    root, _ = prepared
    out = tmp_path / "out"
    report = desed_real.prepare_desed(root, out, progress=False)
    assert report.splits["strong"].written == 3
    assert (out / SPLITS["weak"].labels).is_file()  # metadata copied for load_split
    assert desed_io.load_split(out, "weak").filenames == ["w0.wav", "w1.wav"]

    partial = tmp_path / "partial"
    (partial / SPLITS["weak"].audio_dir).mkdir(parents=True)  # only a 16 kHz weak folder
    rep = desed_real.prepare_desed(partial, progress=False)
    assert rep.splits["weak"].status == "already_16k" and rep.splits["strong"].status == "missing"
    assert "strong: the whole split" in rep.missing_summary()
    with pytest.raises(FileNotFoundError, match="DCASE 2023"):
        desed_real.prepare_desed(tmp_path / "nowhere", progress=False)
