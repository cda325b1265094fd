"""HO-3D Codalab submission: predictions for every `evaluation.txt` frame, written as the
challenge's `pred.json`.

Why a writer and not a scorer: HO-3D withholds the evaluation labels (only the wrist position and a
hand box are released per frame), so scores come from the Codalab server. The file is
`[xyz_list, verts_list]`, one entry per line of evaluation.txt in that order, in HO-3D's own
conventions: OpenGL camera axes (y up, z backward) and HO-3D's joint order (MANO's 16 joints, then
the tips thumb, index, middle, ring, little). Per frame, the detected hand nearest the released box
is kept (the best-scoring one when no box is given); a frame without a detection gets the released
wrist position for every joint and vertex, so the file always has one entry per frame. The server
scores meshes with MANO's 778 vertices: with the Anny hand only the joint scores are meaningful.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from smhr.data.ho3d import HO3D, HO3D_TO_FREIHAND

OPENCV_TO_OPENGL = np.array([1.0, -1.0, -1.0])
FREIHAND_TO_HO3D = np.argsort(HO3D_TO_FREIHAND)


def _pick(hands: list, bbox: np.ndarray | None):
    if not hands:
        return None
    if bbox is None:
        return hands[0]
    centre = (bbox[:2] + bbox[2:]) / 2
    return min(hands, key=lambda h: float(np.linalg.norm(h.keypoints2d.mean(0) - centre)))


def write_codalab(
    rec, root: str | Path, out: str | Path, limit: int | None = None, progress: bool = False
) -> dict:
    """Predict every evaluation frame with `rec` (a Reconstructor) and write pred.json to `out`."""
    from tqdm import tqdm

    ds = HO3D(root, "evaluation")
    n = len(ds) if limit is None else min(limit, len(ds))
    xyz, verts, missed = [], [], 0
    V = rec.hand_models[1].num_vertices
    for i in tqdm(range(n), desc="HO3D evaluation", unit="img", disable=not progress):
        s = ds[i]
        bbox = s.hands[0].bbox if s.hands and s.hands[0].bbox is not None else None
        h = _pick(
            [h for h in rec.predict(s.image, K=s.K) if h.side == 1] or rec.predict(s.image, K=s.K), bbox
        )
        if h is None:
            missed += 1
            root3d = np.asarray(s.meta.get("root3d", np.zeros(3)), np.float64)  # OpenCV frame
            j, v = np.tile(root3d, (21, 1)), np.tile(root3d, (V, 1))
        else:
            j, v = h.joints3d.astype(np.float64), h.vertices.astype(np.float64)
        xyz.append((j[FREIHAND_TO_HO3D] * OPENCV_TO_OPENGL).round(6).tolist())
        verts.append((v * OPENCV_TO_OPENGL).round(6).tolist())
    Path(out).write_text(json.dumps([xyz, verts]))
    return {"frames": n, "no_detection": missed, "vertices_per_mesh": V, "mano_topology": V == 778}
