"""Tests of dualkd_lib.desed_real on a fake DESED tree at 44.1 kHz in the DCASE recipe's folders.

The tree is built from generated clips: a few files are listed in the TSVs but
missing, one WAV is corrupt, and a BEATs-format HDF5 file holds embeddings for
all but one clip.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from dualkd_lib import desed_io, desed_real, models
from dualkd_lib.layout import SPLITS

# the fake tree's builder, shared with test_desed_end_to_end.py (pytest puts tests/ on sys.path)
from fake_desed import CORRUPT, SR_44K, make_clips, make_fake_desed


@pytest.fixture(scope="module")
def clips() -> dict[str, tuple[np.ndarray, pd.DataFrame]]:
    """One generated 10-s clip (16 kHz) and its events per name, seeded."""
    return make_clips()


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, clips):
    root = make_fake_desed(tmp_path_factory.mktemp("desed"), clips)
    report = desed_real.prepare_desed(root, progress=False)
    return root, report


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


def test_load_split_and_beats_embeddings(prepared, tmp_path: Path) -> None:
    root, _ = prepared
    data = {s: desed_io.load_split(root, s) for s in SPLITS}
    assert data["strong"].filenames == ["s0.wav", "s1.wav", "s2.wav"]
    assert data["weak"].filenames == ["w0.wav", "w1.wav"]  # corrupt one was not written: skipped
    assert data["validation"].durations["filename"].tolist() == ["v0.wav", "v1.wav"]
    assert desed_io.load_wav(data["strong"].paths()[0]).shape == (160000,)

    names = data["strong"].filenames
    g = torch.Generator().manual_seed(0)
    frames = torch.randn(len(names), desed_real.BEATS_DIM, desed_real.BEATS_FRAMES, generator=g)
    h5 = desed_real.write_beats_like_h5(tmp_path / "synth_train.hdf5", names[::-1], frames.flip(0))
    with pytest.raises(FileExistsError):
        desed_real.write_beats_like_h5(h5, names, frames)
    import h5py

    with h5py.File(h5, "r") as f:  # the DCASE layout: stems as UTF-8 bytes, channel-first frames
        assert f["filenames"][0] == b"s2" and f["frame_embeddings"].shape == (3, 768, 496)
        assert f["global_embeddings"].shape == (3, 768)
    emb = desed_real.load_beats_embeddings(h5, names, 156, batch_size=2, progress=False)
    assert emb.shape == (3, 768, 156)
    torch.testing.assert_close(emb, models.align_embeddings(frames, 156))  # rows follow `names`

    with pytest.raises(ValueError, match=r"1 of 4 clips have no embedding.*s_gone.wav.*missing='zeros'"):
        desed_real.load_beats_embeddings(h5, names + ["s_gone.wav"], 156, progress=False)
    filled, absent = desed_real.load_beats_embeddings(h5, ["s_gone", *names], 156, missing="zeros",
                                                      return_missing=True, progress=False)
    assert absent == ["s_gone"] and filled[0].abs().sum() == 0
    torch.testing.assert_close(filled[1:], emb)
    with pytest.raises(FileNotFoundError, match="extract_embeddings"):
        desed_real.load_beats_embeddings(tmp_path / "none.hdf5", names, 156)
    assert desed_real.beats_h5_path("emb", "validation") == Path("emb/devtest.hdf5")
    with pytest.raises(ValueError, match="evaluation"):
        desed_real.beats_h5_path("emb", "evaluation")


def test_cached_beats_embeddings_caches(prepared, tmp_path: Path) -> None:
    root, _ = prepared
    names = desed_io.load_split(root, "validation").filenames
    h5 = desed_real.write_beats_like_h5(tmp_path / "devtest.hdf5", names, torch.ones(2, 768, 496))

    def embeddings():
        return desed_real.cached_beats_embeddings("validation", h5, filenames=names, n_frames=156,
                                                  work_dir=tmp_path / "work", progress=False)

    emb = embeddings()
    assert emb.shape == (2, 768, 156) and torch.all(emb == 1)
    assert (tmp_path / "work" / "embeddings" / "validation-beats.pt").is_file()
    torch.testing.assert_close(embeddings(), emb)
