"""Rigged hands as glTF: the hand model's skeleton, its skinning weights and the predicted pose as
joint rotations, so the hand can be re-posed or animated in Blender or a game engine.

What a file holds (one hand per GLB): a joint node per hand-model joint (16, MANO-native order
and names, `smhr.hands.keypoints.MANO_JOINT_NAMES`) in the model's kinematic tree; a skinned mesh
whose bind shape is the hand's shaped rest mesh; every vertex's non-zero LBS weights (JOINTS_n /
WEIGHTS_n sets of four); each joint's local rotation (the axis-angle of `Hand.pose`, the root's
`global_orient`) and translation. A single image sets them as the nodes' transforms; a video track
adds one animation with a keyframe per frame at the frame's time.

Why morph targets: glTF skins by linear blend skinning only. A model with pose correctives (MANO's
posedirs) adds, before skinning, an offset linear in the pose; so do a track's frame-to-frame
shape changes. Both are exported as morph targets that are the model's own bases (one per shape
direction, one per corrective direction) with the frame's coefficients as weights: the file then
reproduces the model's vertices exactly (tested to 1e-4 m) at every keyframe, for any new pose the
bases still apply, and a user can switch them off as shape keys. Anny has no correctives and a
single image has one shape, so its file has no morph targets at all.

Axes: glTF is y up, z backward; the model works in OpenCV camera axes (x right, y down, z forward).
C = diag(1, -1, -1) is a proper rotation, so points map as C p and rotations as C R C (axis-angle:
C r): the skeleton keeps its exact joint angles.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from smhr.hands.keypoints import MANO_JOINT_NAMES, SIDE_NAMES
from smhr.hands.numpy_model import rodrigues
from smhr.hands.params import split_params
from smhr.io.appearance import base_color_factor
from smhr.io.gltf import ARRAY_BUFFER, ELEMENT_ARRAY_BUFFER, GltfBuilder

__all__ = ["model_arrays", "rigged_hand_glb"]

C = np.diag([1.0, -1.0, -1.0])
MAX_INFLUENCE = 1e-6  # weights below this are dropped (and the rest renormalised)


def model_arrays(model: Any) -> dict[str, np.ndarray]:
    """The skinning arrays of a hand model (`NumpyHandModel` or the PyTorch `HandModel`) as float64
    NumPy: v_template [V,3], shapedirs [V,3,S], posedirs [P,V*3], J_regressor [J,V], weights [V,J],
    parents [J], faces [F,3]."""

    def arr(x: Any) -> np.ndarray:
        return np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x)

    V = arr(model.v_template).shape[0]
    out = {k: arr(getattr(model, k)).astype(np.float64)
           for k in ("v_template", "shapedirs", "J_regressor", "weights")}  # fmt: skip
    out["posedirs"] = arr(model.posedirs).astype(np.float64).reshape(-1, V * 3)
    out["parents"] = np.asarray([int(p) for p in arr(model.parents).reshape(-1)])
    out["faces"] = arr(model.faces).astype(np.int64)
    return out


def _quat(rotvec: np.ndarray) -> np.ndarray:
    """Axis-angle [..., 3] -> unit quaternions [..., 4] (x, y, z, w), glTF's order."""
    t = np.linalg.norm(rotvec, axis=-1, keepdims=True)
    s = np.where(t > 1e-12, np.sin(t / 2) / np.maximum(t, 1e-12), 0.5)
    return np.concatenate([rotvec * s, np.cos(t / 2)], -1)


def _pose_frames(a: dict[str, np.ndarray], thetas: np.ndarray,
                 betas_bind: np.ndarray) -> dict[str, np.ndarray]:  # fmt: skip
    """Per frame (T) in OpenCV axes: local rotations as axis-angle [T,J,3], node world positions
    [T,J,3] and local translations [T,J,3], shape coefficients relative to the bind [T,S] and
    corrective coefficients [T,P]."""
    J = len(a["parents"])
    p = [split_params(th) for th in thetas]
    r = np.stack([np.concatenate([q["global_orient"], q["pose"]]).reshape(J, 3) for q in p])
    r = r.astype(np.float64)
    betas = np.stack([q["betas"] for q in p]).astype(np.float64)
    transl = np.stack([q["transl"] for q in p]).astype(np.float64)
    S = betas.shape[1]
    Jreg_shape = np.einsum("jv,vcs->jcs", a["J_regressor"], a["shapedirs"][..., :S])
    J_rest = a["J_regressor"] @ a["v_template"]
    joints = J_rest + np.einsum("jcs,ts->tjc", Jreg_shape, betas)  # [T,J,3] per-frame shaped joints
    J_bind = J_rest + Jreg_shape @ betas_bind
    R = rodrigues(r)  # [T,J,3,3]
    G_R, G_t = np.empty_like(R), np.empty_like(joints)
    for j, par in enumerate(a["parents"]):
        if par < 0:
            G_R[:, j], G_t[:, j] = R[:, j], joints[:, j]
        else:
            G_R[:, j] = G_R[:, par] @ R[:, j]
            G_t[:, j] = np.einsum("tab,tb->ta", G_R[:, par], joints[:, j] - joints[:, par]) + G_t[:, par]
    # node world position p_j such that G_R (v - J_bind) + p = G_R v + t_rel (+ transl): exact LBS
    # with the bind skeleton; equal to the posed joint itself when the frame's shape is the bind's
    world = G_t - np.einsum("tjab,tjb->tja", G_R, joints - J_bind) + transl[:, None]
    local = world.copy()
    for j, par in enumerate(a["parents"]):
        if par >= 0:
            local[:, j] = np.einsum("tba,tb->ta", G_R[:, par], world[:, j] - world[:, par])
    feat = (R[:, 1:] - np.eye(3)).reshape(len(thetas), -1)[:, : a["posedirs"].shape[0]]
    return {"rotvec": r, "local": local, "shape": betas - betas_bind, "correctives": feat, "J_bind": J_bind}


def _influences(weights: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Every vertex's non-zero weights in sets of four: (JOINTS_n uint8 [V,4], WEIGHTS_n float [V,4])."""
    w = np.where(weights > MAX_INFLUENCE, weights, 0.0)
    w = w / w.sum(1, keepdims=True)
    n = int((w > 0).sum(1).max())
    sets = -(-n // 4)
    order = np.argsort(-w, axis=1, kind="stable")[:, : 4 * sets]
    top = np.take_along_axis(w, order, 1)
    order = np.where(top > 0, order, 0)
    return ([order[:, 4 * k : 4 * k + 4].astype(np.uint8) for k in range(sets)],
            [top[:, 4 * k : 4 * k + 4].astype(np.float32) for k in range(sets)])  # fmt: skip


def rigged_hand_glb(model: Any, thetas: np.ndarray, side: int, *, times: Sequence[float] | None = None,
                    name: str = "hand", rgba: Sequence[int] = (245, 130, 48, 255),
                    colors: np.ndarray | None = None) -> bytes:  # fmt: skip
    """A skinned, posed hand (one GLB) from hand parameters thetas [61] (one image) or [T, 61] with
    `times` [T] seconds (a track: one animation, keyframes at those times).

    model: the side's hand model (`model_arrays`); colors: optional per-vertex RGB(A) in [0, 1]
    (COLOR_0, multiplied into `rgba`)."""
    a = model_arrays(model)
    thetas = np.atleast_2d(np.asarray(thetas, np.float64))
    T, J = len(thetas), len(a["parents"])
    if times is not None and len(times) != T:
        raise ValueError(f"times has {len(times)} entries for {T} frames")
    betas_bind = np.median([split_params(th)["betas"] for th in thetas], axis=0).astype(np.float64)
    if T == 1:
        betas_bind = split_params(thetas[0])["betas"].astype(np.float64)
    f = _pose_frames(a, thetas, betas_bind)
    S = len(betas_bind)
    v_bind = a["v_template"] + a["shapedirs"][..., :S] @ betas_bind

    g = GltfBuilder()
    V, P = len(v_bind), a["posedirs"].shape[0]
    targets, target_names, coeffs = [], [], []
    if T > 1 and np.abs(f["shape"]).max() > 0:  # a track whose smoothed shape varies
        targets += [a["shapedirs"][..., s] for s in range(S)]
        target_names += [f"shape_{s}" for s in range(S)]
        coeffs.append(f["shape"])
    if P:
        targets += list(a["posedirs"].reshape(P, V, 3))
        target_names += [f"pose_corrective_{k}" for k in range(P)]
        coeffs.append(f["correctives"])
    morph = np.concatenate(coeffs, 1) if coeffs else np.zeros((T, 0))

    attributes = {"POSITION": g.accessor((v_bind @ C.T).astype(np.float32), ARRAY_BUFFER, bounds=True)}
    joints_sets, weight_sets = _influences(a["weights"])
    for k, (js, ws) in enumerate(zip(joints_sets, weight_sets, strict=True)):
        attributes[f"JOINTS_{k}"] = g.accessor(js, ARRAY_BUFFER)
        attributes[f"WEIGHTS_{k}"] = g.accessor(ws, ARRAY_BUFFER)
    if colors is not None:
        attributes["COLOR_0"] = g.accessor(np.clip(np.asarray(colors, np.float32), 0, 1), ARRAY_BUFFER)
    primitive: dict[str, Any] = {
        "attributes": attributes,
        "material": g.material(tuple(base_color_factor(rgba))),
        "indices": g.accessor(a["faces"].astype(np.uint32).reshape(-1), ELEMENT_ARRAY_BUFFER),
    }
    if targets:
        primitive["targets"] = [
            {"POSITION": g.accessor((t @ C.T).astype(np.float32), ARRAY_BUFFER, bounds=True)} for t in targets
        ]
    mesh = g.mesh(name, primitive, target_names, morph[0].tolist() if targets else None)

    rot = _quat(f["rotvec"] @ C.T)  # [T,J,4] in glTF axes
    for t in range(1, T):  # keep consecutive keyframes on one hemisphere: LINEAR takes the short way
        flip = (rot[t] * rot[t - 1]).sum(-1) < 0
        rot[t, flip] *= -1
    local = f["local"] @ C.T
    nodes = []
    for j in range(J):
        joint = {"name": f"{SIDE_NAMES[side]}_{MANO_JOINT_NAMES[j]}", "rotation": rot[0, j].tolist(),
                 "translation": local[0, j].tolist()}  # fmt: skip
        nodes.append(g.node(joint))
    for j, par in enumerate(a["parents"]):
        if par >= 0:
            g.doc["nodes"][nodes[par]].setdefault("children", []).append(nodes[j])
    ibm = np.tile(np.eye(4), (J, 1, 1))
    ibm[:, :3, 3] = -(f["J_bind"] @ C.T)
    skin = g.skin(nodes, ibm, nodes[0])
    g.node({"name": name, "mesh": mesh, "skin": skin}, root=True)
    g.doc["scenes"][0]["nodes"].insert(0, nodes[0])
    if T > 1:
        if times is None:
            raise ValueError("an animation (several frames) needs the frames' times")
        tin = g.accessor(np.asarray(times, np.float32), bounds=True)
        channels = []
        for j in range(J):
            channels.append((nodes[j], "rotation", tin, g.accessor(rot[:, j].astype(np.float32))))
            channels.append((nodes[j], "translation", tin, g.accessor(local[:, j].astype(np.float32))))
        if targets:
            channels.append((len(g.doc["nodes"]) - 1, "weights", tin,
                             g.accessor(morph.astype(np.float32).reshape(-1))))  # fmt: skip
        g.animation(name, channels)
    return g.glb()
