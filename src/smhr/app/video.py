"""Video: frame-by-frame reconstruction with hand track ids and One Euro smoothing.

Why tracking and smoothing: per-frame estimates jitter by a few pixels / degrees even when the hand
is still; a One Euro filter (Casiez et al., CHI 2012) removes jitter at low speed while following
fast motion with little lag. It runs on each track's parameters (global orientation, articulation,
shape, translation), and the hand model then turns the smoothed parameters back into vertices and
joints, so the smoothed mesh stays a valid hand. Tracks: each new detection joins the unclaimed
track of the same side whose last 2D keypoints are closest (mean distance below `max_jump` of the
image diagonal), otherwise it starts a new track; tracks unseen for `max_missing` frames end.
Axis-angle vectors are filtered component-wise, which is fine away from 180-degree rotations.

Times: every frame is stamped with its container timestamp (`frame_time`), not index / fps, so a
variable-frame-rate phone video gets true `time_s`, the filter true intervals, and the annotated
video shows each frame at its time (`TimedWriter`).

Outputs: `{stem}_annotated.mp4` (overlay + skeleton + track id per hand), `{stem}_frames.json`
(per frame: index, time, hands with track_id and the JSON hand record fields) and
`{stem}_track{id}_{side}.glb` per track (a rigged hand animated at the frames' times).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

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
        # the frame's hand with the smoothed parameters and what they drive; the rest (appearance,
        # handedness, local keypoints, camera) stays the frame's own
        return replace(h, **split_params(s), vertices=vertices, joints3d=joints,
                       keypoints2d=(uvw[:, :2] / uvw[:, 2:]).astype(np.float32))


VIDEO_RATES = (30, 60)
"""Frame rate range of the annotated video: frames sit at their true times on this grid."""


def frame_time(cap: Any, index: int, fps: float, previous: float | None) -> float:
    """Seconds of the frame just read: the container's timestamp (true for variable-frame-rate
    video, where index / fps puts a frame at 0.500 s at 0.179 s), else index / fps when the backend
    gives none or a non-increasing one."""
    import cv2

    t = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
    if not math.isfinite(t) or (previous is not None and t <= previous) or (index > 0 and t <= 0):
        t = index / fps if previous is None else max(index / fps, previous + 1.0 / fps)
    return t


class TimedWriter:
    """Writes frames that arrive at given times into a constant-rate video: each frame is repeated
    until the next one's time (a frame closer than one tick to the next is skipped), so playback
    follows the true times of a variable-frame-rate source."""

    def __init__(self, writer: Any, rate: float) -> None:
        self.writer, self.rate = writer, rate
        self.pending: np.ndarray | None = None
        self.t0: float | None = None
        self.ticks = 0

    def add(self, picture_bgr: np.ndarray, t: float) -> None:
        if self.t0 is None:
            self.t0 = t
        self._flush_until(round((t - self.t0) * self.rate))
        self.pending = picture_bgr

    def _flush_until(self, tick: int) -> None:
        while self.pending is not None and self.ticks < tick:
            self.writer.write(self.pending)
            self.ticks += 1

    def close(self) -> None:
        self._flush_until(self.ticks + 1)


def process_video(
    rec,
    path: str | Path,
    out: str | Path,
    *,
    stem: str | None = None,
    focal: float | None = None,
    progress: bool = True,
    max_frames: int | None = None,
    source: str | None = None,
    provenance: dict[str, Any] | None = None,
    rigged: bool = True,
    mode: str = "fast",
    with_vertices: bool = False,
    side_check: bool | None = False,
    hand_check: bool | None = False,
) -> int:
    """Reconstruct every frame of a video file; write the annotated MP4, the per-frame JSON and (rigged)
    one animated GLB per track, all or nothing. Returns the total number of hands over all frames.
    Raises BadInput for an unreadable video, and for a frame the predictor refuses (naming the file
    and the frame); a video whose decoding stops well before the frame count its container lists (a
    truncated file) is processed as far as it decodes, with a one-line note on stderr.
    with_vertices: every hand's vertices in the JSON, as `smhr demo --vertices`.
    mode: "fast" (one view per frame, the default) or "photo" (tiles per frame,
    `smhr.runtime.tiling`: ~10x slower). side_check: False (default) skips the side classifier on
    the frames (~0.85 ms a hand: video keeps the fast path's speed), None: the reconstructor's own;
    hand_check: the same for the hand classifier."""
    import cv2
    from tqdm import tqdm

    from smhr.app.outputs import publish, shown_path
    from smhr.app.provenance import POSE_JOINTS, camera_for, with_mode
    from smhr.app.provenance import provenance as make_provenance
    from smhr.hands.keypoints import FREIHAND_NAMES
    from smhr.io.atomic import StagedFiles
    from smhr.io.exports import JSON_SCHEMA_VERSION, hand_record
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
    rate = float(min(VIDEO_RATES[1], max(VIDEO_RATES[0], round(fps))))
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or None
    H, W = frame.shape[:2]
    staged = StagedFiles()
    video_path = out / f"{stem}_annotated.mp4"
    partial = staged.adopt(video_path)  # renamed when complete: a failure or a kill leaves no half video
    writer = None
    tracker = HandTracker(rec.hand_models)
    faces = rec.faces
    frames, count, index, t = [], 0, 0, None
    track_keys: dict[int, list[tuple[float, int, np.ndarray]]] = {}
    bar = tqdm(total=total, desc=stem, unit="frame", disable=not progress)
    try:
        # Inside the try: the encoder creates the file before it returns, and a SIGTERM delivered
        # right after that (before any later line) must still reach the discard below.
        writer = cv2.VideoWriter(str(partial), cv2.VideoWriter_fourcc(*"mp4v"), rate, (W, H))
        timed = TimedWriter(writer, rate)
        while ok and (max_frames is None or index < max_frames):
            t = frame_time(cap, index, fps, t)
            rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            try:
                found = rec.predict(rgb, focal=focal, mode=mode, side_check=side_check,
                                    hand_check=hand_check)
            except BadInput as e:  # the predictor calls every frame "image 0": name the file and frame
                raise BadInput(f"{path}: frame {index}: {str(e).removeprefix('image 0: ')}") from None
            tracked = tracker.update(found, index, t, (H, W))
            hands = [h for _, h in tracked]
            K = hands[0].K if hands else np.eye(3)
            pic = overlay_hands(rgb, [h.vertices for h in hands], [faces[h.side] for h in hands], K,
                                keypoints2d=[h.keypoints2d for h in hands], sides=[h.side for h in hands])
            for tid, h in tracked:
                x, y = h.keypoints2d[0]
                cv2.putText(pic, f"#{tid}", (int(x) + 4, int(y) - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                            (255, 255, 255), 1, cv2.LINE_AA)  # fmt: skip
                theta = join_params(h.global_orient, h.pose, h.betas, h.transl)
                track_keys.setdefault(tid, []).append((t, h.side, theta))
            timed.add(pic[..., ::-1], t)
            records = [{"track_id": tid, **hand_record(h, k, with_vertices)}
                       for k, (tid, h) in enumerate(tracked)]  # fmt: skip
            frames.append({"frame": index, "time_s": round(t, 6), "hands": records})
            count += len(hands)
            index += 1
            bar.update(1)
            ok, frame = cap.read()
        timed.close()
        writer.release()
        if total and max_frames is None and index < 0.9 * total:  # a count is an estimate: a note, no failure
            import typer

            typer.echo(f"note: {path}: decoding stopped after {index} of the {total} frames its container "
                       f"lists (a truncated or damaged file?); the outputs cover those {index}", err=True)
        doc = {
            "schema": JSON_SCHEMA_VERSION,
            "source": shown_path(source if source is not None else path),
            "fps": fps,
            "annotated_video_fps": rate,
            "image_size": {"height": H, "width": W},
            "provenance": with_mode(provenance or make_provenance(rec, None, focal), mode,
                                    [list(b) for b in rec.tiles((H, W), mode)], side_check, hand_check),
            "hand_model": rec.hand_model,
            "keypoint_order": "freihand",
            "keypoint_names": list(FREIHAND_NAMES),
            "pose_joints": list(POSE_JOINTS),
            "camera": camera_for((H, W), rec.input_size, focal),
            "frames": frames,
        }
        staged.write(out / f"{stem}_frames.json", json.dumps(doc) + "\n")
        if rigged:
            for name, data in track_glbs(rec, track_keys).items():
                staged.write(out / f"{stem}_{name}", data)
        publish(staged, out, stem)
    except BaseException:
        if writer is not None:
            writer.release()
        staged.discard()
        raise
    finally:
        bar.close()
        cap.release()
        if writer is not None:
            writer.release()
    return count


def track_glbs(rec, track_keys: dict[int, list[tuple[float, int, np.ndarray]]]) -> dict[str, bytes]:
    """`track{id}_{side}.glb` -> an animated rigged hand with a keyframe at each of the track's frames
    (their true times; `smhr.app.rig`)."""
    from smhr.app.rig import rigged_hand_glb
    from smhr.hands.keypoints import SIDE_NAMES
    from smhr.io.exports import SIDE_RGBA

    files = {}
    for tid, keys in sorted(track_keys.items()):
        side = keys[0][1]
        name = f"track{tid}_{SIDE_NAMES[side]}"
        times = [k[0] for k in keys]
        thetas = np.stack([k[2] for k in keys])
        files[f"{name}.glb"] = rigged_hand_glb(rec.hand_models[side], thetas, side, times=times, name=name,
                                               rgba=SIDE_RGBA[side])  # fmt: skip
    return files
