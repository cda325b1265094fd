"""Renderer: coverage against analytic areas and a dense point-in-triangle reference, occlusion
between meshes, float64 finite-difference gradients, silhouette fitting, overlays, CPU == CUDA."""

import math

import numpy as np
import pytest
import torch
import trimesh

from smhr.geometry.rotations import aa_to_matrix as axis_angle_to_matrix
from smhr.geometry.rotations import matrix_to_aa as matrix_to_axis_angle
from smhr.hands.model import HandModel
from smhr.hands.testing import write_synthetic_mano_pickle
from smhr.render import rasterize, render, render_hard, soft_silhouette
from smhr.render.overlay import draw_skeleton, overlay_hands


def _intrinsics(f, cx, cy, B=1, dtype=torch.float32):
    return torch.tensor([[f, 0.0, cx], [0.0, f, cy], [0.0, 0.0, 1.0]], dtype=dtype).expand(B, 3, 3)


def _inside_reference(tri_px: np.ndarray, H: int, W: int) -> np.ndarray:
    """Dense reference: pixel centres (x=j, y=i) inside any of the triangles [N,3,2] (edges count)."""
    ys, xs = np.mgrid[0:H, 0:W]
    p = np.stack([xs, ys], -1).reshape(-1, 1, 2).astype(np.float64)
    a, b, c = tri_px[None, :, 0], tri_px[None, :, 1], tri_px[None, :, 2]

    def cross(u, v):
        dx, dy = v[..., 0] - u[..., 0], v[..., 1] - u[..., 1]
        return dx * (p[..., 1] - u[..., 1]) - dy * (p[..., 0] - u[..., 0])

    e0, e1, e2 = cross(a, b), cross(b, c), cross(c, a)
    inside = ((e0 >= 0) & (e1 >= 0) & (e2 >= 0)) | ((e0 <= 0) & (e1 <= 0) & (e2 <= 0))
    return inside.any(1).reshape(H, W)


def _sphere(radius=0.1, centre=(0.0, 0.0, 1.0), subdivisions=2):
    s = trimesh.creation.icosphere(subdivisions=subdivisions, radius=radius)
    return torch.tensor(s.vertices + np.array(centre), dtype=torch.float32), torch.tensor(s.faces)


def test_triangle_covers_its_analytic_area_to_the_edge_pixels():
    f, z = 100.0, 2.0
    uv = np.array([[10.3, 12.6], [57.8, 15.1], [24.2, 51.7]])
    verts = torch.tensor(np.c_[uv * z / f, np.full(3, z)], dtype=torch.float32)[None, None]
    frags = rasterize(verts, torch.tensor([[0, 1, 2]]), _intrinsics(f, 0.0, 0.0), (64, 64))
    count = int(frags.mask.sum())
    e1, e2 = uv[1] - uv[0], uv[2] - uv[0]
    area = 0.5 * abs(e1[0] * e2[1] - e1[1] * e2[0])
    perimeter = sum(np.linalg.norm(uv[i] - uv[(i + 1) % 3]) for i in range(3))
    assert abs(count - area) <= perimeter / 2, (count, area)
    np.testing.assert_array_equal(frags.mask[0].numpy(), _inside_reference(uv[None], 64, 64))
    assert torch.allclose(frags.depth[frags.mask], torch.tensor(z), atol=1e-5)
    assert torch.allclose(frags.bary[frags.mask].sum(-1), torch.tensor(1.0), atol=1e-5)


def test_closed_mesh_silhouette_matches_dense_reference():
    v, faces = _sphere(0.12, (0.03, -0.02, 0.9))
    K = _intrinsics(120.0, 31.5, 29.5)
    frags = rasterize(v[None, None], faces, K, (60, 64))
    uvw = v.double().numpy() @ K[0].double().numpy().T
    tri = (uvw[:, :2] / uvw[:, 2:])[faces.numpy()]
    ref = _inside_reference(tri, 60, 64)
    got = frags.mask[0].numpy()
    iou = (got & ref).sum() / (got | ref).sum()
    assert iou >= 0.99 and got.sum() > 500


def test_nearer_mesh_owns_every_overlapping_pixel():
    near, faces = _sphere(0.1, (-0.04, 0.0, 0.8))
    far, _ = _sphere(0.1, (0.04, 0.0, 1.0))
    verts = torch.stack([far, near])[None]  # slot 0 far, slot 1 near
    K = _intrinsics(100.0, 31.5, 31.5)
    frags = rasterize(verts, faces, K, (64, 64))
    alone = [rasterize(verts[:, i : i + 1], faces, K, (64, 64)).mask[0] for i in range(2)]
    overlap = alone[0] & alone[1]
    assert overlap.sum() > 50
    assert (frags.mesh_id[0][overlap] == 1).all()
    assert (frags.mesh_id[0][alone[0] & ~alone[1]] == 0).all()
    valid = torch.tensor([[True, False]])
    assert (rasterize(verts, faces, K, (64, 64), valid).mesh_id[0][overlap] == 0).all()


def _fd_check(fn, x, n=6, eps=1e-6, seed=0):
    x = x.detach().clone().requires_grad_(True)
    fn(x).backward()
    g = torch.Generator().manual_seed(seed)
    flat = x.detach().reshape(-1)
    idx = torch.randperm(flat.numel(), generator=g)[:n]
    analytic, numeric = [], []
    for i in idx.tolist():
        d = torch.zeros_like(flat)
        d[i] = eps
        with torch.no_grad():
            plus = fn((flat + d).view_as(x))
            minus = fn((flat - d).view_as(x))
        numeric.append(float((plus - minus) / (2 * eps)))
        analytic.append(float(x.grad.reshape(-1)[i]))
    a, b = np.array(analytic), np.array(numeric)
    rel = np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-12)
    return rel, a, b


def test_gradients_match_finite_differences_float64():
    v, faces = _sphere(0.12, (0.0, 0.0, 1.0), subdivisions=1)
    v = v.double()[None, None]
    K = _intrinsics(60.0, 15.5, 15.5, dtype=torch.float64)
    g = torch.Generator().manual_seed(1)
    w_rgb = torch.rand(1, 3, 32, 32, generator=g, dtype=torch.float64)
    w_sil = torch.rand(1, 1, 32, 32, generator=g, dtype=torch.float64)
    albedo = torch.rand(1, 1, v.shape[2], 3, generator=g, dtype=torch.float64)
    sh = torch.randn(1, 1, 27, generator=g, dtype=torch.float64) * 0.3
    sh[..., 0] += 1.0

    def rgb_loss(x):
        return (render(x, faces, K, (32, 32), albedo=albedo, sh=sh, soft=False).rgb * w_rgb).sum()

    def sil_loss(x):
        return (soft_silhouette(x, faces, K, (32, 32), sigma=1.0) * w_sil).sum()

    def albedo_loss(a):
        return (render(v, faces, K, (32, 32), albedo=a, sh=sh, soft=False).rgb * w_rgb).sum()

    for fn, x in ((rgb_loss, v), (sil_loss, v), (albedo_loss, albedo)):
        rel, a, b = _fd_check(fn, x, n=8)
        assert rel < 1e-2, (fn.__name__, a, b)
        assert np.abs(b).max() > 0


@pytest.fixture(scope="module")
def hand(tmp_path_factory):
    path = tmp_path_factory.mktemp("mano") / "MANO_RIGHT.pkl"
    write_synthetic_mano_pickle(path, "right", 0)
    return HandModel.load("mano", "right", path=path)


@pytest.mark.slow
def test_fitting_pose_to_a_silhouette_recovers_translation_and_orientation(hand):
    torch.manual_seed(0)
    pose, betas = torch.zeros(1, 45), torch.zeros(1, 10)
    orient_gt = torch.tensor([[0.3, -0.4, 0.2]])
    transl_gt = torch.tensor([[0.0, 0.0, 0.45]])
    rest = hand(orient_gt, pose, betas, torch.zeros(1, 3)).joints.mean(1)
    transl_gt = transl_gt - rest
    K = _intrinsics(150.0, 47.5, 47.5)

    def silhouette(orient, transl):
        return soft_silhouette(hand(orient, pose, betas, transl).vertices[:, None], hand.faces, K, (96, 96))

    with torch.no_grad():
        target = silhouette(orient_gt, transl_gt)
    axis = torch.tensor([[1.0, 2.0, -1.0]]) / math.sqrt(6)
    R_off = axis_angle_to_matrix(axis * math.radians(15))
    R0 = R_off @ axis_angle_to_matrix(orient_gt)
    orient = matrix_to_axis_angle(R0).clone().requires_grad_(True)
    transl = (transl_gt + torch.tensor([[0.02, -0.015, 0.0162]])).clone().requires_grad_(True)
    assert float((transl.detach() - transl_gt).norm()) == pytest.approx(0.03, abs=1e-3)
    opt = torch.optim.Adam([{"params": [orient], "lr": 0.02}, {"params": [transl], "lr": 0.003}])
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, 300)
    for _ in range(300):
        opt.zero_grad()
        loss = (silhouette(orient, transl) - target).pow(2).mean()
        loss.backward()
        opt.step()
        sched.step()
    dR = axis_angle_to_matrix(orient.detach()) @ axis_angle_to_matrix(orient_gt).transpose(-1, -2)
    angle = math.degrees(math.acos(max(-1.0, min(1.0, (float(dR[0].trace()) - 1) / 2))))
    err_mm = 1000 * float((transl.detach() - transl_gt).norm())
    assert err_mm < 1.0 and angle < 1.0, (err_mm, angle)


def test_rgb_shading_background_and_overlay(hand):
    zero = torch.zeros(2, 3)
    v = hand(zero, torch.zeros(2, 45), torch.zeros(2, 10), torch.tensor([[0, 0, 0.5]] * 2)).vertices
    K = _intrinsics(200.0, 31.5, 31.5, B=2)
    bg = torch.tensor([0.0, 1.0, 0.0])
    out = render_hard(v[:, None], hand.faces, K, (64, 64), background=bg)
    m = out.mask[:, 0] > 0
    assert m.any() and (out.rgb.permute(0, 2, 3, 1)[~m] == bg).all()
    # white ambient light of irradiance 1 -> pixel colour = albedo
    assert torch.allclose(out.rgb.permute(0, 2, 3, 1)[m], torch.tensor([0.45, 0.35, 0.30]), atol=1e-5)
    image = np.zeros((64, 64, 3), np.uint8)
    kp = np.stack([np.linspace(5, 60, 21), np.linspace(5, 60, 21)], 1)
    pic = overlay_hands(image, [v[0].numpy()], [hand.faces.numpy()], K[0].numpy(), keypoints2d=[kp],
                        sides=[1], side_view=True)
    assert pic.shape == (64, 128, 3) and pic[:, :64][m[0].numpy()].mean() > 40
    assert (pic[:, 64:] != 60).any()  # the side view drew the hand
    sk = draw_skeleton(image, kp)
    assert sk.any() and not image.any()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available")
def test_cuda_matches_cpu(hand):
    v = hand(torch.randn(4, 3) * 0.3, torch.randn(4, 45) * 0.2, torch.zeros(4, 10),
             torch.tensor([[0, 0, 0.5]] * 4)).vertices[:, None]
    K = _intrinsics(200.0, 47.5, 47.5, B=4)
    cpu = render(v, hand.faces, K, (96, 96))
    gpu = render(v.cuda(), hand.faces.cuda(), K.cuda(), (96, 96))
    assert (cpu.mask.cuda() != gpu.mask).float().mean() < 1e-3
    torch.testing.assert_close(gpu.rgb.cpu(), cpu.rgb, atol=1e-3, rtol=0)
    torch.testing.assert_close(gpu.silhouette.cpu(), cpu.silhouette, atol=1e-3, rtol=0)


def test_directional_sh_is_ambient_plus_cosine():
    from smhr.render.shading import directional_sh, sh_irradiance

    g = torch.Generator().manual_seed(0)
    normals = torch.nn.functional.normalize(torch.randn(200, 3, generator=g), dim=-1)
    d = torch.tensor([0.3, -0.5, -1.0])
    colour = torch.tensor([1.0, 0.5, 0.2])
    sh = directional_sh(d, 0.6, 0.3, colour)
    expect = (0.6 + 0.3 * (normals @ (d / d.norm())))[:, None] * colour
    assert (sh_irradiance(normals, sh) - expect).abs().max().item() < 1e-5
