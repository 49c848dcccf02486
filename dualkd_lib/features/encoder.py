"""Labels <-> frames: :class:`ManyHotEncoder` (events to frame targets and back).

Taught in notebook 02.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from dualkd_lib.constants import CLASSES, CLIP_SECONDS
from dualkd_lib.features.logmel import FeatureConfig, n_output_frames, output_frame_seconds


#: One event: ``(label, onset seconds, offset seconds)``.
Event = tuple[str, float, float]


class ManyHotEncoder:
    """Event lists <-> many-hot frame labels at the model output resolution.

    Frame ``i`` covers ``[i * frame_seconds, (i + 1) * frame_seconds)``.
    Encoding convention (as the DCASE baseline): an event ``(label, onset,
    offset)`` is active in frames ``floor(onset / frame_seconds)`` up to (not
    including) ``ceil(offset / frame_seconds)``, clipped to ``[0, n_frames]``;
    so every frame the event touches is active. An event shorter than a frame
    still gets one frame. A tolerance of 1e-6 frames absorbs float rounding,
    so ``onset = 3 * frame_seconds`` lands in frame 3, not 2.
    Decoding merges runs of active frames into ``(label, start edge, end edge)``
    in seconds. So events -> frames -> events is exact to one frame, and
    frames -> events -> frames is exact.

    With the default 156 frames of 0.064 s the frames end at 9.984 s; the last
    16 ms of a 10-s clip fall into the last frame. Taught in notebook 02.
    """

    _TOL = 1e-6

    def __init__(
        self,
        classes: Sequence[str] = CLASSES,
        clip_seconds: float = CLIP_SECONDS,
        n_frames: int = 156,
        frame_seconds: float = 0.064,
    ) -> None:
        if len(classes) == 0 or len(set(classes)) != len(classes):
            raise ValueError(f"classes={list(classes)!r} must be non-empty and without duplicates.")
        if n_frames <= 0 or frame_seconds <= 0 or clip_seconds <= 0:
            raise ValueError(
                f"n_frames={n_frames}, frame_seconds={frame_seconds}, clip_seconds={clip_seconds} "
                "must all be > 0."
            )
        if n_frames * frame_seconds > clip_seconds + frame_seconds:
            raise ValueError(
                f"{n_frames} frames of {frame_seconds} s overrun a {clip_seconds}-s clip; "
                "use ManyHotEncoder.from_config(cfg) to get consistent values."
            )
        self.classes: tuple[str, ...] = tuple(classes)
        self.clip_seconds = float(clip_seconds)
        self.n_frames = int(n_frames)
        self.frame_seconds = float(frame_seconds)
        self._index = {c: i for i, c in enumerate(self.classes)}

    @classmethod
    def from_config(cls, cfg: FeatureConfig, classes: Sequence[str] = CLASSES) -> ManyHotEncoder:
        """Encoder whose frames match the model output of features ``cfg``."""
        return cls(classes, cfg.clip_seconds, n_output_frames(cfg), output_frame_seconds(cfg))

    def __repr__(self) -> str:
        return (f"ManyHotEncoder({len(self.classes)} classes, n_frames={self.n_frames}, "
                f"frame_seconds={self.frame_seconds}, clip_seconds={self.clip_seconds})")

    # -- helpers
    def class_index(self, label: str) -> int:
        """Row of ``label`` in the label matrices; ValueError for unknown labels."""
        try:
            return self._index[label]
        except KeyError:
            raise ValueError(
                f"Unknown event label {label!r}; valid labels are {list(self.classes)}."
            ) from None

    def frame_times(self) -> np.ndarray:
        """Start time of each frame in seconds, ``[n_frames]``."""
        return np.arange(self.n_frames) * self.frame_seconds

    def frame_edges(self) -> np.ndarray:
        """Frame boundaries in seconds, ``[n_frames + 1]`` (start of each frame, then
        the end of the last one)."""
        return np.arange(self.n_frames + 1) * self.frame_seconds

    def time_to_frames(
        self, onset: np.ndarray | float, offset: np.ndarray | float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Onset/offset times (s) -> ``(first_frame, end_frame)`` (end exclusive), int arrays.

        Implements the convention in the class docstring; vectorised.
        """
        on = np.asarray(onset, dtype=np.float64)
        off = np.asarray(offset, dtype=np.float64)
        if np.any(~np.isfinite(on)) or np.any(~np.isfinite(off)):
            raise ValueError("Event onset/offset must be finite numbers (found NaN or inf).")
        if np.any(off < on):
            bad = int(np.argmax(off < on))
            raise ValueError(
                f"Event offset {float(np.ravel(off)[bad])} is before its onset "
                f"{float(np.ravel(on)[bad])}; swap or fix the annotation."
            )
        first = np.floor(on / self.frame_seconds + self._TOL).astype(np.int64)
        end = np.ceil(off / self.frame_seconds - self._TOL).astype(np.int64)
        first = np.clip(first, 0, self.n_frames - 1)
        end = np.clip(end, 0, self.n_frames)
        end = np.maximum(end, first + 1)  # at least one frame
        return first, end

    @staticmethod
    def _as_event_tuples(events: Any) -> list[Event]:
        if isinstance(events, pd.DataFrame):
            missing = {"onset", "offset", "event_label"} - set(events.columns)
            if missing:
                raise ValueError(
                    f"Events DataFrame lacks columns {sorted(missing)}; expected "
                    "'onset', 'offset', 'event_label' (DESED strong TSV)."
                )
            df = events.dropna(subset=["event_label"])
            return list(zip(df["event_label"], df["onset"], df["offset"]))
        out = []
        for ev in events:
            if len(ev) != 3:
                raise ValueError(f"Event {ev!r} must be a tuple (label, onset_s, offset_s).")
            out.append((ev[0], ev[1], ev[2]))
        return out

    # -- strong labels
    def encode_strong(self, events: pd.DataFrame | Iterable[Event]) -> np.ndarray:
        """Events of one clip -> frame labels ``[classes, n_frames]`` (float32, 0/1).

        ``events``: a DataFrame with columns ``onset``, ``offset``, ``event_label``
        (rows with an empty label, i.e. clips without events, are skipped) or a
        list of ``(label, onset_s, offset_s)`` tuples.
        """
        labels = np.zeros((len(self.classes), self.n_frames), dtype=np.float32)
        tuples = self._as_event_tuples(events)
        if not tuples:
            return labels
        rows = np.array([self.class_index(t[0]) for t in tuples])
        first, end = self.time_to_frames([t[1] for t in tuples], [t[2] for t in tuples])
        for r, a, b in zip(rows, first, end):
            labels[r, a:b] = 1.0
        return labels

    def encode_strong_dataframe(self, df: pd.DataFrame, filenames: Sequence[str]) -> np.ndarray:
        """Strong labels of a whole split, ``[len(filenames), classes, n_frames]`` (float32).

        ``df``: DESED strong TSV (``filename``, ``onset``, ``offset``,
        ``event_label``). Files without rows get all-zero labels; rows of files
        not in ``filenames`` are ignored. Vectorised: +1 at each event's first
        frame, -1 after its last, cumulative sum along time.
        """
        missing = {"filename", "onset", "offset", "event_label"} - set(df.columns)
        if missing:
            raise ValueError(f"Strong labels DataFrame lacks columns {sorted(missing)}.")
        file_index = {f: i for i, f in enumerate(filenames)}
        if len(file_index) != len(filenames):
            raise ValueError("encode_strong_dataframe: filenames contains duplicates.")
        df = df.dropna(subset=["event_label"])
        df = df[df["filename"].isin(file_index)]
        counts = np.zeros((len(filenames), len(self.classes), self.n_frames + 1), dtype=np.int32)
        if len(df):
            unknown = sorted(set(df["event_label"]) - set(self.classes))
            if unknown:
                raise ValueError(
                    f"Unknown event label(s) {unknown}; valid labels are {list(self.classes)}."
                )
            f_idx = df["filename"].map(file_index).to_numpy()
            c_idx = df["event_label"].map(self._index).to_numpy()
            first, end = self.time_to_frames(df["onset"].to_numpy(), df["offset"].to_numpy())
            np.add.at(counts, (f_idx, c_idx, first), 1)
            np.add.at(counts, (f_idx, c_idx, end), -1)
        active = np.cumsum(counts, axis=-1)[..., : self.n_frames] > 0
        return active.astype(np.float32)

    def decode_strong(self, frames: np.ndarray | torch.Tensor, threshold: float = 0.5
                      ) -> list[Event]:
        """Frame labels/scores ``[classes, n_frames]`` -> ``[(label, onset_s, offset_s), ...]``.

        A frame is active when its value is above ``threshold``; runs of active
        frames become one event from the run's first frame edge to its last.
        Events are sorted by class order, then onset.
        """
        arr = frames.detach().cpu().numpy() if isinstance(frames, torch.Tensor) else np.asarray(frames)
        if arr.shape != (len(self.classes), self.n_frames):
            raise ValueError(
                f"decode_strong expects [classes, n_frames] = "
                f"{(len(self.classes), self.n_frames)}, got {arr.shape}."
            )
        active = (arr > threshold).astype(np.int8)
        padded = np.pad(active, ((0, 0), (1, 1)))
        change = np.diff(padded, axis=1)  # +1 at run starts, -1 one past run ends
        edges = self.frame_edges()
        events: list[Event] = []
        for c, label in enumerate(self.classes):
            starts = np.flatnonzero(change[c] == 1)
            stops = np.flatnonzero(change[c] == -1)
            for a, b in zip(starts, stops):
                events.append((label, float(edges[a]), float(min(edges[b], self.clip_seconds))))
        return events

    # -- weak labels
    def encode_weak(self, labels: str | Iterable[str]) -> np.ndarray:
        """Clip labels -> many-hot vector ``[classes]`` (float32).

        ``labels``: an iterable of class names or a DESED weak-TSV string
        ``"Dog,Speech"``; an empty string means no event.
        """
        if isinstance(labels, str):
            labels = [s for s in (p.strip() for p in labels.split(",")) if s]
        out = np.zeros(len(self.classes), dtype=np.float32)
        for label in labels:
            out[self.class_index(label)] = 1.0
        return out

    def decode_weak(self, vector: np.ndarray | torch.Tensor, threshold: float = 0.5) -> list[str]:
        """Many-hot vector or clip scores ``[classes]`` -> class names above ``threshold``."""
        arr = vector.detach().cpu().numpy() if isinstance(vector, torch.Tensor) else np.asarray(vector)
        if arr.shape != (len(self.classes),):
            raise ValueError(f"decode_weak expects [{len(self.classes)}] values, got {arr.shape}.")
        return [c for c, v in zip(self.classes, arr) if v > threshold]


# --------------------------------------------------------------------------- cache
Loader = Callable[[Path], torch.Tensor]
