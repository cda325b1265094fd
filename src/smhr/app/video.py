"""Video: frame-by-frame reconstruction with hand track ids and One Euro smoothing.

Why tracking and smoothing: per-frame estimates jitter by a few pixels / degrees even when the hand
is still; a One Euro filter (Casiez et al., CHI 2012) removes jitter at low speed while following
fast motion with little lag. It runs on each track's parameters (global orientation, articulation,
shape, translation), and the hand model then turns the smoothed parameters back into vertices and
joints, so the smoothed mesh stays a valid hand. Tracks: each new detection joins the unclaimed
track of the same side whose last 2D keypoints are closest (mean distance below `max_jump` of the
image diagonal), otherwise it starts a new track; tracks unseen for `max_missing` frames end.
Axis-angle vectors are filtered component-wise, which is fine away from 180-degree rotations.

Outputs: `{stem}_annotated.mp4` (overlay + skeleton + track id per hand) and `{stem}_frames.json`
(per frame: index, time, hands with track_id and the JSON hand record fields).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from smhr.errors import BadInput
from smhr.hands.numpy_model import NumpyHandModel
from smhr.hands.params import join_params, split_params
from smhr.records import Hand


class OneEuro:
    """One Euro filter over a vector signal sampled at known times (seconds)."""

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.05, d_cutoff: float = 1.0) -> None:
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.x: np.ndarray | None = None
        self.dx: np.ndarray | None = None
        self.t: float | None = None

    @staticmethod
    def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
        tau = 1.0 / (2 * math.pi * cutoff)
        return 1.0 / (1.0 + tau / dt)

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        x = np.asarray(x, np.float64)
        if self.x is None or self.t is None or t <= self.t:
            self.x, self.dx, self.t = x.copy(), np.zeros_like(x), t
            return x.copy()
        dt = t - self.t
        dx = (x - self.x) / dt
        a_d = self._alpha(self.d_cutoff, dt)
        self.dx = a_d * dx + (1 - a_d) * self.dx
        cutoff = self.min_cutoff + self.beta * np.abs(self.dx)
        a = self._alpha(cutoff, dt)
        self.x = a * x + (1 - a) * self.x
        self.t = t
        return self.x.copy()


@dataclass
class Track:
    track_id: int
    side: int
    keypoints2d: np.ndarray
    last_frame: int
    filt: OneEuro = field(default_factory=OneEuro)


def run_hand_model(model: NumpyHandModel, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(vertices [V,3], joints [21,3]) of one hand from theta [61] (orient, pose, betas, transl)."""
    p = split_params(theta)
    verts, joints = model(*[p[k][None] for k in ("global_orient", "pose", "betas", "transl")])
    return verts[0], joints[0]


class HandTracker:
    """Assigns track ids to per-frame detections and smooths their parameters (module docstring)."""

    def __init__(
        self,
        hand_models: list[NumpyHandModel],
        max_jump: float = 0.15,
        max_missing: int = 5,
        min_cutoff: float = 1.0,
        beta: float = 0.05,
    ) -> None:
        self.hand_models = hand_models
        self.max_jump, self.max_missing = max_jump, max_missing
        self.min_cutoff, self.beta = min_cutoff, beta
        self.tracks: list[Track] = []
        self.next_id = 0

    def update(
        self, hands: list[Hand], frame: int, t: float, image_hw: tuple[int, int]
    ) -> list[tuple[int, Hand]]:
        """(track id, smoothed hand) for every detection of this frame."""
        diag = float(np.hypot(*image_hw))
        self.tracks = [tr for tr in self.tracks if frame - tr.last_frame <= self.max_missing]
        free = list(self.tracks)
        out = []
        for h in sorted(hands, key=lambda h: -h.score):
            best, best_d = None, self.max_jump * diag
            for tr in free:
                d = float(np.linalg.norm(tr.keypoints2d - h.keypoints2d, axis=1).mean())
                if tr.side == h.side and d < best_d:
                    best, best_d = tr, d
            if best is None:
                best = Track(self.next_id, h.side, h.keypoints2d, frame, OneEuro(self.min_cutoff, self.beta))
                self.next_id += 1
                self.tracks.append(best)
            else:
                free.remove(best)
            smooth = self._smooth(best, h, t)
            best.keypoints2d, best.last_frame = smooth.keypoints2d, frame
            out.append((best.track_id, smooth))
        return out

    def _smooth(self, track: Track, h: Hand, t: float) -> Hand:
        theta = join_params(h.global_orient, h.pose, h.betas, h.transl)
        s = track.filt(theta, t).astype(np.float32)
        vertices, joints = run_hand_model(self.hand_models[h.side], s)
        uvw = joints @ h.K.T
        return Hand(
            side=h.side,
            score=h.score,
            center=h.center,
            **split_params(s),
            vertices=vertices,
            joints3d=joints,
            keypoints2d=(uvw[:, :2] / uvw[:, 2:]).astype(np.float32),
            local_keypoints2d=h.local_keypoints2d,
            K=h.K,
        )


def process_video(
    rec,
    path: str | Path,
    out: str | Path,
    *,
    stem: str | None = None,
    focal: float | None = None,
    progress: bool = True,
    max_frames: int | None = None,
) -> int:
    """Reconstruct every frame of a video file; write the annotated MP4 and the per-frame JSON.
    Returns the total number of hands over all frames. Raises BadInput for an unreadable video."""
    import cv2
    from tqdm import tqdm

    from smhr.io.atomic import atomic_write, temporary_name
    from smhr.io.exports import hand_record
    from smhr.render.overlay import overlay_hands

    path, out = Path(path), Path(out)
    stem = stem or path.stem
    cap = cv2.VideoCapture(str(path))
    ok, frame = cap.read() if cap.isOpened() else (False, None)
    if not ok or frame is None:
        cap.release()
        raise BadInput(
            f"{path}: cannot read video frames (corrupt or unsupported codec); re-encode as H.264 MP4"
        )
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    fps = fps if 1.0 <= fps <= 240.0 else 30.0
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or None
    H, W = frame.shape[:2]
    video_path = out / f"{stem}_annotated.mp4"
    partial = temporary_name(video_path)  # renamed when complete: a failure leaves no half video
    writer = cv2.VideoWriter(str(partial), cv2.VideoWriter_fourcc(*"mp4v"), fps, (W, H))
    tracker = HandTracker(rec.hand_models)
    faces = rec.faces
    frames, count, index = [], 0, 0
    bar = tqdm(total=total, desc=stem, unit="frame", disable=not progress)
    try:
        while ok and (max_frames is None or index < max_frames):
            rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            t = index / fps
            tracked = tracker.update(rec.predict(rgb, focal=focal), index, t, (H, W))
            hands = [h for _, h in tracked]
            K = hands[0].K if hands else np.eye(3)
            pic = overlay_hands(
                rgb,
                [h.vertices for h in hands],
                [faces[h.side] for h in hands],
                K,
                keypoints2d=[h.keypoints2d for h in hands],
                sides=[h.side for h in hands],
            )
            for tid, h in tracked:
                x, y = h.keypoints2d[0]
                cv2.putText(
                    pic,
                    f"#{tid}",
                    (int(x) + 4, int(y) - 4),
                    cv2.FONT_HERSHEY_SIMPLEX,
                    0.5,
                    (255, 255, 255),
                    1,
                    cv2.LINE_AA,
                )
            writer.write(pic[..., ::-1])
            frames.append(
                {
                    "frame": index,
                    "time_s": round(t, 4),
                    "hands": [{"track_id": tid, **hand_record(h, k)} for k, (tid, h) in enumerate(tracked)],
                }
            )
            count += len(hands)
            index += 1
            bar.update(1)
            ok, frame = cap.read()
    except BaseException:
        writer.release()
        partial.unlink(missing_ok=True)
        raise
    finally:
        bar.close()
        cap.release()
        writer.release()
    doc = {
        "schema": 1,
        "source": str(path),
        "fps": fps,
        "image_size": {"height": H, "width": W},
        "hand_model": rec.hand_model,
        "frames": frames,
    }
    try:
        atomic_write(out / f"{stem}_frames.json", json.dumps(doc) + "\n")
        os.replace(partial, video_path)
    finally:
        partial.unlink(missing_ok=True)
    return count
