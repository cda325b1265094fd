"""The renderer behind `smhr synth` (`smhr.data.synth` writes its output): what each synthetic
image shows (hand pose, shape, camera, skin or glove, lights, background, optional arm) drawn from
seeded generators, rendered in batches on the GPU when there is one.

Why a module of its own: the drawing and rendering (here) change with every new look the data
needs; the FreiHAND file layout (`smhr.data.synth`) does not.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from smhr.data.backgrounds import procedural_backgrounds
from smhr.data.synth_arm import (
    MAX_HIDDEN_KEYPOINTS,
    arm_faces,
    arm_params,
    build_arms,
    cap_vertex_ids,
    keypoints_in_view,
)
from smhr.data.synth_palm import PalmDraws, PalmGeometry, apply_palm_cue, palm_geometry
from smhr.data.synth_scene import (
    arm_albedo,
    glove_albedo,
    place_in_view,
    random_sh,
    render_hands,
    skin_albedo,
    subsample_intrinsics,
)
from smhr.hands.keypoints import NAIL_PART, RIGHT, SIDE_NAMES

SWITCHES = ("arm_prob", "glove_prob", "low_light_prob", "palm_cue_prob")
"""The optional looks of `SynthConfig`, each a share of images (recorded in a set's meta.json)."""


def switch_flag(name: str) -> str:
    """The `smhr synth` option of a SWITCHES name: "arm_prob" -> "--arm-prob"."""
    return "--" + name.replace("_", "-")


@dataclass
class SynthConfig:
    """What `smhr synth` varies, and how much.

    res: image side px. hand: "anny" | "mano". side: "right" | "left" | "both" (per image).
    fill_range: projected hand box side / image side. focal_range: focal length / image side.
    center_jitter: hand box centre offset, fraction of the image side. mano_dir: folder of
    MANO_{RIGHT,LEFT}.pkl when hand="mano" (default $SMHR_MANO_DIR). Poses come from the model's
    `smhr.hands.prior.PosePrior`. blur_prob / blur_max_px: linear motion blur. noise_max:
    max Gaussian noise sigma (0-255 scale). jpeg_range: JPEG quality of the RGB files.
    supersample: render at this factor for anti-aliased edges. device: "auto" | "cpu" | "cuda".
    arm_prob: share of images with an arm attached at the wrist (`smhr.data.synth_arm`; labels
    stay the hand's). glove_prob: share of hands wearing a glove (`synth_scene.glove_albedo`).
    low_light_prob: share of images darkened with stronger noise (`synth_post.low_light`).
    palm_cue_prob: share of bare hands whose palmar side is paler with creases
    (`smhr.data.synth_palm`). At 0 (the default) each draws no random number, so the files are
    those of a run without it.
    """

    res: int = 224
    hand: str = "anny"
    side: str = "right"
    fill_range: tuple[float, float] = (0.4, 0.8)
    focal_range: tuple[float, float] = (1.8, 2.8)
    center_jitter: float = 0.08
    mano_dir: str | None = None
    blur_prob: float = 0.3
    blur_max_px: float = 6.0
    noise_max: float = 6.0
    jpeg_range: tuple[int, int] = (75, 98)
    supersample: int = 2
    device: str = "auto"
    kinds: tuple[str, ...] = field(default=("noise", "gradient", "stripes", "blobs", "texture"))
    arm_prob: float = 0.0
    glove_prob: float = 0.0
    low_light_prob: float = 0.0
    palm_cue_prob: float = 0.0

    def __post_init__(self) -> None:
        for name in SWITCHES:
            if not 0.0 <= getattr(self, name) <= 1.0:
                value = getattr(self, name)
                raise ValueError(f"{switch_flag(name)} must be a probability in [0, 1], got {value}")
        if self.side not in ("left", "right", "both"):
            raise ValueError(f"--side must be left, right or both, got {self.side!r}")
        if self.res < 16:
            raise ValueError(f"--res must be >= 16 px, got {self.res}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"--device must be auto, cpu or cuda, got {self.device!r}")
        if self.device == "cuda" and not torch.cuda.is_available():
            raise ValueError("--device cuda: no CUDA device visible; use --device cpu or auto")

    def torch_device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)


class SynthRenderer:
    """Draws and renders chunks of synthetic hands on one device (models loaded once).

    `render(n, seed)` -> dict of numpy arrays: image [n,H,W,3] uint8 (hand over background, before
    blur/noise/JPEG), mask [n,H,W] bool (the hand where it is front-most: an arm in front hides
    it), arm [n,H,W] bool (the arm, front-most), vis [n,21] bool (keypoint not behind the arm), K
    [n,3,3], xyz [n,21,3], verts [n,V,3], theta [n,61], side [n] (0/1), arm_on / glove_on [n] bool,
    post_seed [n]. The hand, camera, light and background numbers come from one CPU generator
    seeded with `seed` (so CPU and GPU runs draw the same hands); the arm and glove numbers from a
    second one (`_extras_generator`), so switching them on leaves every hand and label as it was;
    procedural backgrounds use a generator on the render device seeded from the first.
    """

    def __init__(self, cfg: SynthConfig) -> None:
        from smhr.hands.model import HandModel

        self.cfg = cfg
        self.device = cfg.torch_device()
        from smhr.hands.prior import PosePrior

        sides = list(SIDE_NAMES) if cfg.side == "both" else [cfg.side]
        from smhr.hands.assets import user_files

        path = user_files(cfg.hand, cfg.mano_dir)
        self.models = {s: HandModel.load(cfg.hand, s, path).to(self.device).eval() for s in sides}
        self.priors = {s: PosePrior.from_model(m.cpu()) for s, m in self.models.items()}
        self.cap_ids: dict[str, torch.Tensor] = {}
        self.palms: dict[str, PalmGeometry] = {}  # only with the palm cue on
        for s, m in self.models.items():
            rest = m(*(torch.zeros(1, d) for d in (3, m.pose_dim, m.num_betas, 3)))
            self.cap_ids[s] = cap_vertex_ids(rest.vertices[0], rest.joints[0]).to(self.device)
            if cfg.palm_cue_prob > 0:
                self.palms[s] = palm_geometry(rest.vertices[0], m.faces, rest.joints[0], m.part_labels,
                                              m.tip_vertex_ids)  # fmt: skip
            m.to(self.device)
        self.arm_faces = arm_faces().to(self.device)

    def _dress(
        self, side_name: str, verts: torch.Tensor, joints: torch.Tensor, albedo: torch.Tensor,
        extras: dict | None, idx: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Gloves and arms of the images idx (one side): the (vertices, faces, albedo) to render.
        Without an arm the tube's vertices sit behind the camera, so the renderer skips them."""
        m = self.models[side_name]
        faces = m.faces.to(self.device)
        if extras is None:
            return verts, faces, albedo
        g2, k = extras["gen"], len(idx)
        skin = albedo[:, m.part_labels.cpu() != NAIL_PART].mean(1)  # [k,3] the bare hand's tone
        glove = None
        if self.cfg.glove_prob > 0:
            gloved, base = glove_albedo(m.v_template, k, g2)
            on = extras["glove_on"][idx]
            albedo = torch.where(on[:, None, None], gloved, albedo)
            glove = torch.where(on[:, None], base, torch.full_like(base, float("nan")))
        if self.cfg.arm_prob == 0:
            return verts, faces, albedo
        params = {key: v[idx] for key, v in extras["arm"].items()}
        arm, s = build_arms(verts, joints, self.cap_ids[side_name], params)
        off = ~extras["arm_on"][idx].to(self.device)
        arm[off] = torch.tensor([0.0, 0.0, -1.0], device=self.device, dtype=arm.dtype)
        colours = torch.cat([albedo, arm_albedo(s, skin, glove, g2)], 1)
        return torch.cat([verts, arm], 1), torch.cat([faces, self.arm_faces + verts.shape[1]]), colours

    def _drop_hiding_arms(
        self, scene: torch.Tensor, faces: torch.Tensor, colours: torch.Tensor, light: torch.Tensor,
        K: torch.Tensor, joints: torch.Tensor, arm_on: torch.Tensor, idx: torch.Tensor,
        maps: tuple[torch.Tensor, ...],
    ) -> None:
        """Take back (in place: scene vertices, arm_on, the 1x maps) every arm that hides more than
        MAX_HIDDEN_KEYPOINTS of its hand's keypoints (an arm pointing at the camera in front of the
        hand: a hand the labels would place where the picture shows none), and re-render those."""
        anything, hand, depth = maps
        hidden = ~keypoints_in_view(joints, K, (anything > 0.5) & (hand < 0.5), depth)
        drop = hidden.sum(1) > MAX_HIDDEN_KEYPOINTS
        if not drop.any():
            return
        V = scene.shape[1] - (int(self.arm_faces.max()) + 1)
        scene[drop, V:] = torch.tensor([0.0, 0.0, -1.0], device=scene.device, dtype=scene.dtype)
        arm_on[idx[drop.cpu()]] = False
        F_hand = faces.shape[0] - self.arm_faces.shape[0]
        again = render_hands(scene[drop], faces, colours[drop], light[drop], K[drop], hand.shape[-1], F_hand)
        for target, source in zip(maps, again[1:], strict=True):
            target[drop] = source

    @torch.no_grad()
    def render(self, n: int, seed: int) -> dict[str, np.ndarray]:
        from smhr.hands import prior

        cfg, dev = self.cfg, self.device
        g = torch.Generator().manual_seed(seed)
        if cfg.side == "both":
            is_right = torch.rand(n, generator=g) < 0.5
        else:
            is_right = torch.full((n,), cfg.side == "right")
        res, ss = cfg.res, max(1, int(cfg.supersample))
        out_img = torch.zeros(n, 3, res, res, device=dev)
        out_mask = torch.zeros(n, res, res, dtype=torch.bool, device=dev)
        out_arm = torch.zeros(n, res, res, dtype=torch.bool, device=dev)
        vis = torch.ones(n, 21, dtype=torch.bool)
        xyz = torch.zeros(n, 21, 3)
        theta = torch.zeros(n, 61)
        K_all = torch.zeros(n, 3, 3)
        verts_all: list[torch.Tensor | None] = [None] * n
        focal = res * (
            cfg.focal_range[0] + (cfg.focal_range[1] - cfg.focal_range[0]) * torch.rand(n, generator=g)
        )
        fill = cfg.fill_range[0] + (cfg.fill_range[1] - cfg.fill_range[0]) * torch.rand(n, generator=g)
        shift = (torch.rand(n, 2, generator=g) * 2 - 1) * cfg.center_jitter
        sh = random_sh(n, g)
        post_seed = torch.randint(2**62, (n,), generator=g)
        g_dev = torch.Generator(device=dev).manual_seed(int(torch.randint(2**62, (1,), generator=g)))
        bgs = procedural_backgrounds(n, res, generator=g_dev, device=dev, kinds=cfg.kinds)
        extras = None
        if cfg.arm_prob > 0 or cfg.glove_prob > 0:
            g2 = torch.Generator().manual_seed(_extras_seed(seed))
            arm_on = torch.rand(n, generator=g2) < cfg.arm_prob
            glove_on = torch.rand(n, generator=g2) < cfg.glove_prob
            extras = {"gen": g2, "arm_on": arm_on, "glove_on": glove_on, "arm": arm_params(n, g2)}
        palm_draws = None
        if cfg.palm_cue_prob > 0:
            g3 = torch.Generator().manual_seed(_extras_seed(seed, stream=0xA3))
            palm_draws = PalmDraws.draw(n, cfg.palm_cue_prob, g3)
        for side, side_name in enumerate(SIDE_NAMES):
            idx = torch.nonzero(is_right == (side == RIGHT)).flatten()
            if len(idx) == 0:
                continue
            m = self.models[side_name]
            k = len(idx)
            pose = self.priors[side_name].sample(k, g)
            betas = prior.sample_shapes(k, generator=g, num_betas=m.num_betas)
            orient = prior.sample_global_orient(k, generator=g)
            albedo = skin_albedo(m.part_labels, m.v_template, k, g)
            zero = torch.zeros(k, 3)
            posed = m(orient.to(dev), pose.to(dev), betas.to(dev), zero.to(dev))
            transl, K = place_in_view(
                posed.vertices, focal[idx].to(dev), fill[idx].to(dev), shift[idx].to(dev), res
            )
            verts = posed.vertices + transl[:, None]
            joints = posed.joints + transl[:, None]
            scene, faces, colours = self._dress(side_name, verts, joints, albedo, extras, idx)
            if palm_draws is not None:  # after _dress, on its CPU colours: the arm keeps the skin's mean
                bare = torch.ones(k, dtype=torch.bool) if extras is None else ~extras["glove_on"][idx]
                V, palm = albedo.shape[1], self.palms[side_name]  # gloved hands stay plain
                colours[bare, :V] = apply_palm_cue(colours[bare, :V], palm, palm_draws, idx[bare])
            light, colours, F_hand = sh[idx].to(dev), colours.to(dev), m.faces.shape[0]
            # labels first: the hand's front-most coverage at the pixel centres (a plain 1x raster)
            _, anything, hand, depth = render_hands(scene, faces, colours, light, K, res, F_hand)
            if extras is not None and cfg.arm_prob > 0:
                self._drop_hiding_arms(scene, faces, colours, light, K, joints, extras["arm_on"], idx,
                                       (anything, hand, depth))  # fmt: skip
            Kss = subsample_intrinsics(K, ss)
            rgb, cover, _, _ = render_hands(scene, faces, colours, light, Kss, res * ss, F_hand)
            rgb = F.avg_pool2d(rgb, ss)  # anti-aliased edges
            cover = F.avg_pool2d(cover[:, None], ss)
            out_img[idx.to(dev)] = rgb * cover + bgs[idx.to(dev)] * (1 - cover)
            out_mask[idx.to(dev)] = hand > 0.5
            arm = (anything > 0.5) & (hand < 0.5)
            out_arm[idx.to(dev)] = arm
            vis[idx] = keypoints_in_view(joints, K, arm, depth).cpu()
            xyz[idx] = joints.float().cpu()
            K_all[idx] = K.float().cpu()
            theta[idx] = torch.cat([orient, pose, betas, transl.float().cpu()], -1)
            for j, i in enumerate(idx.tolist()):
                verts_all[i] = verts[j].float().cpu()
        image = (out_img.clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        no = torch.zeros(n, dtype=torch.bool)
        return {
            "image": image,
            "mask": out_mask.cpu().numpy(),
            "arm": out_arm.cpu().numpy(),
            "vis": vis.numpy(),
            "K": K_all.numpy(),
            "xyz": xyz.numpy(),
            "verts": np.stack([v.numpy() for v in verts_all]),
            "theta": theta.numpy(),
            "side": is_right.long().numpy(),
            "arm_on": (no if extras is None else extras["arm_on"]).numpy(),
            "glove_on": (no if extras is None else extras["glove_on"]).numpy(),
            "post_seed": post_seed.numpy(),
        }


def _extras_seed(seed: int, stream: int = 0xA2) -> int:
    """Seed of a chunk's generator for an optional look (a stream apart from the hand's): 0xA2 arm
    and glove, 0xA3 the palm cue."""
    return int(np.random.SeedSequence([seed, stream]).generate_state(1, np.uint64)[0] >> 1)
