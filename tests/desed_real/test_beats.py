"""Tests of dualkd_lib/desed_real/beats.py: BEATs-format HDF5 embeddings, on the prepared fake DESED tree."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from dualkd_lib import desed_io, desed_real, models
from dualkd_lib.layout import SPLITS


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
