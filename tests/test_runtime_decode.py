"""The one inference path: the peaks contract (`PeakNet`, what both backends serve), the NumPy decode
(threshold, handedness, side sets, translation, letterbox undo, real cameras) and `Reconstructor`."""

import numpy as np
import pytest
import torch

from smhr.geometry.virtual_camera import project_points
from smhr.model.decode import gather_feat, nms, topk
from smhr.model.net import SMHRNet
from smhr.model.normalize import normalize_images
from smhr.model.peaks import PeakNet, TorchPeaks
from smhr.runtime.contract import APPEARANCE_HEADS, OUTPUT_NAMES
from smhr.runtime.decode import decode_peaks
from smhr.runtime.reconstructor import Reconstructor

S, R = 16, 64  # output grid and input size (stride 4)


class PointHand:
    """NumPy stand-in hand model: fixed joints / vertices (joint 0 and vertex 0 at the model origin),
    x mirrored for the left side, scaled by (1 + betas[0]); no rotation."""

    def __init__(self, side: int, num_vertices: int = 30) -> None:
        rng = np.random.default_rng(1)
        mirror = np.array([-1.0 if side == 0 else 1.0, 1.0, 1.0], np.float32)
        self.joints = (rng.random((21, 3), np.float32) * 0.1 - 0.05) * mirror
        self.verts = (rng.random((num_vertices, 3), np.float32) * 0.1 - 0.05) * mirror
        self.joints[0] = self.verts[0] = 0
        self.num_vertices, self.kind = num_vertices, "point"

    def __call__(self, global_orient, pose, betas, transl):
        s = (1 + np.asarray(betas)[:, :1])[:, :, None]
        t = np.asarray(transl)[:, None]
        return (self.verts * s + t).astype(np.float32), (self.joints * s + t).astype(np.float32)


HANDS = [PointHand(0), PointHand(1)]


def crafted_outputs() -> dict[str, np.ndarray]:
    """Image 0: peaks A (x3,y4) p=.9 left, B (x12,y10) p=.8 right, C (x8,y13) p=.2 (below the
    threshold). Image 1: nothing above it."""
    out = {"scores": np.array([[0.9, 0.8, 0.2], [0.1, 0.05, 0.01]], np.float32),
           "cells": np.array([[4 * S + 3, 10 * S + 12, 13 * S + 8], [0, 1, 2]]),
           "params": np.zeros((2, 3, 122), np.float32), "kp_offsets": np.zeros((2, 3, 42), np.float32),
           "handedness": np.zeros((2, 3, 2), np.float32)}  # fmt: skip
    out["handedness"][0, 0], out["handedness"][0, 1] = [2.0, -2.0], [-2.0, 2.0]
    out["params"][0, 0, 58:61] = [1.5, -2.0, 0.2]  # A, left set (a, b, c)
    out["params"][0, 0, 61 + 58 :] = [0.0, 0.0, 5.0]  # A right set: must be ignored
    out["params"][0, 0, 48] = 0.5  # A left betas[0]
    out["params"][0, 1, 61 + 58 :] = [-1.0, 0.5, 0.0]  # B, right set
    out["params"][0, 1, 58:61] = [0.0, 0.0, 5.0]  # B left set: ignored
    out["kp_offsets"][0, 0] = 0.25
    return out


def _decode(affines=None, K=None, side=None, threshold=0.5):
    A = np.stack([np.eye(3)] * 2) if affines is None else affines
    return decode_peaks(crafted_outputs(), HANDS, R, S, A, threshold, K, side=side)


def test_decode_returns_exactly_the_right_hands():
    hands = _decode()
    assert len(hands) == 2 and hands[1] == []  # the hand-less image gives no hand
    a, b = hands[0]
    assert (a.side, b.side) == (0, 1)
    assert a.score == pytest.approx(0.9) and b.score == pytest.approx(0.8)
    np.testing.assert_allclose(a.center, [3.5 * 4, 4.5 * 4])  # cell centres
    np.testing.assert_allclose(b.center, [12.5 * 4, 10.5 * 4])
    # translation decode: the model origin (joint 0) lands at centre + (a, b), depth c + 0.8
    np.testing.assert_allclose(a.keypoints2d[0], [14 + 1.5, 18 - 2.0], atol=1e-4)
    np.testing.assert_allclose(b.keypoints2d[0], [50 - 1.0, 42 + 0.5], atol=1e-4)
    assert a.transl[2] == pytest.approx(1.0) and b.transl[2] == pytest.approx(0.8)
    assert a.betas[0] == pytest.approx(0.5) and b.betas[0] == 0
    np.testing.assert_allclose(a.joints3d, HANDS[0].joints * 1.5 + a.transl, atol=1e-6)  # the left model
    np.testing.assert_allclose(project_points(a.joints3d, a.K), a.keypoints2d, atol=1e-3)
    np.testing.assert_allclose(a.K, [[512, 0, 32], [0, 512, 32], [0, 0, 1]])
    np.testing.assert_allclose(a.local_keypoints2d, np.tile([(3 + 0.25) * 4, (4 + 0.25) * 4], (21, 1)))
    forced = _decode(side=1)[0]  # single-side data: every hand decoded with the right set and model
    assert [h.side for h in forced] == [1, 1] and forced[0].transl[2] == pytest.approx(5.8)
    assert [len(h) for h in _decode(threshold=0.0)] == [3, 3]


def test_decode_undoes_letterbox_and_reexpresses_with_real_intrinsics():
    # 80x48 image -> 64x64 network input: scale 0.8, padded 12.8 px top and bottom
    A = np.array([[0.8, 0.0, -0.1], [0.0, 0.8, 12.7], [0.0, 0.0, 1.0]])
    inv = np.linalg.inv(A)
    K_orig = np.array([[100.0, 0, 40], [0, 100.0, 24], [0, 0, 1]])
    affines = np.stack([A, A])
    virt = _decode(affines)[0][0]
    np.testing.assert_allclose(virt.center, inv[:2, :2] @ [14.0, 18.0] + inv[:2, 2], atol=1e-4)
    np.testing.assert_allclose(virt.keypoints2d[0], inv[:2, :2] @ [15.5, 16.0] + inv[:2, 2], atol=1e-3)
    np.testing.assert_allclose(project_points(virt.joints3d, virt.K), virt.keypoints2d, atol=1e-3)
    real = _decode(affines, np.stack([K_orig, K_orig]))[0][0]  # same pixel ray, depth x f_net / 512
    assert real.transl[2] == pytest.approx(1.0 * (100 * 0.8) / 512, rel=1e-5)
    np.testing.assert_allclose(real.K, K_orig, atol=1e-5)
    np.testing.assert_allclose(project_points(real.transl[None], K_orig)[0], virt.keypoints2d[0], atol=1e-3)
    np.testing.assert_allclose(project_points(real.joints3d, K_orig), real.keypoints2d, atol=1e-3)
    np.testing.assert_allclose(real.joints3d - real.transl, virt.joints3d - virt.transl, atol=1e-6)
    K_skew = K_orig.copy()
    K_skew[0, 1] = 7.0  # a skewed camera: still the same pixel's ray
    skewed = _decode(affines, np.stack([K_skew, K_skew]))[0][0]
    np.testing.assert_allclose(project_points(skewed.transl[None], K_skew)[0], virt.keypoints2d[0], atol=1e-3)


def _random_net(seed: int = 1) -> SMHRNet:
    torch.manual_seed(seed)
    net = SMHRNet(backbone="mobilenet_v2", num_vertices=30, input_size=R, appearance=False).eval()
    for head in (net.handedness, net.params, net.center):  # heads whose answers differ between cells
        for p in head.parameters():
            torch.nn.init.normal_(p, std=0.3)
    return net


def test_peaknet_is_nms_topk_and_the_dense_heads_read_at_the_peaks():
    net = _random_net()
    images = torch.randint(0, 256, (2, R, R, 3), dtype=torch.uint8)
    with torch.no_grad():
        got = PeakNet(net, max_hands=6)(images)
        out = net(normalize_images(images.permute(0, 3, 1, 2)))
        scores, ind = topk(nms(torch.sigmoid(out["center"]), 5), 6)
        dense_params = net.params(out["features"])
    assert list(got) == [n for n in OUTPUT_NAMES if n not in APPEARANCE_HEADS]  # a net without appearance
    assert torch.equal(got["scores"], scores)  # the same normalisation, bit for bit
    assert torch.equal(got["cells"], ind)
    torch.testing.assert_close(got["params"], gather_feat(dense_params, ind), atol=1e-4, rtol=1e-4)
    sides = got["handedness"].argmax(-1)
    assert torch.equal(sides, gather_feat(out["handedness"], ind).argmax(-1))
    assert 0 < int(sides.sum()) < sides.numel()  # both sides occur: the comparison means something


def test_peaknet_with_a_threshold_answers_only_the_slots_that_can_hold_a_hand():
    torch.manual_seed(3)  # a small net with the appearance heads, centre scores spread over (0, 1)
    net = SMHRNet(backbone="mobilenet_v2", num_vertices=30, input_size=R, appearance=True, neck_channels=32,
                  head_hidden=32).eval()
    for head in (net.handedness, net.params, net.texture):
        for p in head.parameters():
            torch.nn.init.normal_(p, std=0.3)
    images = torch.randint(0, 256, (2, R, R, 3), dtype=torch.uint8)
    with torch.no_grad():
        full = PeakNet(net, max_hands=6)(images)
        scores = full["scores"]
        assert len(set(scores.flatten().tolist())) == 12  # distinct scores: every cut below is a real one
        for cut in (3, 0):  # slots kept: the best 3 of image 0's scores, and none
            thr = float(scores.max()) + 1.0 if cut == 0 else float(scores[0, cut - 1])
            n = int((scores >= thr).any(0).sum())  # the longest prefix either image needs
            got = PeakNet(net, max_hands=6)(images, torch.tensor(thr))
            assert n >= cut and all(v.shape[:2] == (2, n) for v in got.values())
            for name, value in got.items():  # the same numbers as the first n slots of the full run
                torch.testing.assert_close(value, full[name][:, :n], atol=1e-5, rtol=1e-5)
    A = np.stack([np.eye(3)] * 2)
    models = [PointHand(0, 30), PointHand(1, 30)]
    thr = float(scores[1, 2])
    ref = decode_peaks({k: v.numpy() for k, v in full.items()}, models, R, S, A, thr)
    got = decode_peaks(TorchPeaks(net, max_hands=6).run(images.numpy(), thr), models, R, S, A, thr)
    assert [len(h) for h in got] == [len(h) for h in ref] and sum(len(h) for h in got) >= 3
    for a, b in zip([h for hs in ref for h in hs], [h for hs in got for h in hs], strict=True):
        assert a.score == b.score and a.side == b.side
        np.testing.assert_allclose(a.keypoints2d, b.keypoints2d, atol=1e-4)


def test_reconstructor_around_a_training_net_predicts_like_the_decode_of_its_peaks():
    net = _random_net(2).train()
    rec = Reconstructor(TorchPeaks(net, max_hands=4), HANDS, threshold=0.0, max_hands=4)
    image = np.random.default_rng(0).integers(0, 256, (48, 80, 3), dtype=np.uint8)
    hands = rec.predict(image)
    assert net.training  # put back in training mode after the prediction
    assert rec.backend == "torch" and rec.input_size == R
    from smhr.geometry.letterbox import letterbox_image
    from smhr.runtime.second_peaks import drop_second_peaks

    boxed, A = letterbox_image(image, R)
    decoded = decode_peaks(rec.network.run(boxed[None]), HANDS, R, S, A[None], 0.0,
                           fit_translation=rec.fit_translation)[0]
    ref = drop_second_peaks(decoded)  # (a random net draws its 4 hands over one another)
    assert len(decoded) == 4 and 1 <= len(hands) == len(ref)
    for h, r in zip(hands, ref, strict=True):
        np.testing.assert_array_equal(h.keypoints2d, r.keypoints2d)
        assert h.side == r.side


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_graphed_peaks_match_eager_on_cuda():
    from smhr.model.graphed import GraphedPeaks

    net = _random_net().cuda()
    images = torch.randint(0, 256, (2, R, R, 3), dtype=torch.uint8, device="cuda")
    graphed = GraphedPeaks(net, tuple(images.shape), max_hands=3)
    got = {k: v.clone() for k, v in graphed(images).items()}
    with torch.no_grad():
        ref = PeakNet(net, 3).cuda()(images)
    assert torch.equal(got["cells"], ref["cells"])
    for k in ("scores", "params", "handedness"):
        torch.testing.assert_close(got[k], ref[k], atol=1e-4, rtol=1e-4)


def test_auto_backend_is_onnxruntime_on_the_cpu_and_torch_for_a_gpu_or_a_model_pt(monkeypatch, tmp_path):
    from smhr.runtime import loading

    monkeypatch.setattr(loading, "cuda_present", lambda: False)
    assert loading.choose_backend("auto", None, "auto", None) == "onnxruntime"
    assert loading.choose_backend("auto", None, "cuda", None) == "torch"
    assert loading.choose_backend("auto", None, "auto", 320) == "torch"  # an ONNX export has one size
    assert loading.choose_backend("auto", tmp_path / "m.pt", "cpu", None) == "torch"
    assert loading.choose_backend("auto", tmp_path / "m.onnx", "auto", None) == "onnxruntime"
    monkeypatch.setattr(loading, "cuda_present", lambda: True)
    assert loading.choose_backend("auto", None, "auto", None) == "torch"
    assert loading.choose_backend("auto", None, "cpu", None) == "onnxruntime"
    with pytest.raises(ValueError, match="backend must be one of"):
        loading.choose_backend("tensorrt", None, "auto", None)
