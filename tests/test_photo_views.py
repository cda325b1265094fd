"""Photo mode's extra views: the zoomed-out whole view (frame-filling hands) and the mirrored view
that votes on each hand's side (`smhr.runtime.tiling`, `smhr.runtime.mirror`)."""

from dataclasses import replace

import numpy as np
import pytest

from smhr.geometry.letterbox import virtual_camera
from smhr.hands.assets import user_files
from smhr.hands.numpy_model import NumpyHandModel
from smhr.runtime.mirror import mirror_camera, mirror_hand, vote_sides
from smhr.runtime.reconstructor import Reconstructor
from smhr.runtime.tiling import View, merge_views, photo_views
from test_tiling import FlatHand, R, RedSquareNet, _hand, _photo


class BlueEdgeNet(RedSquareNet):
    """The red-square stub, and a side opinion: 'right', weakly (logit 0.2), unless blue pixels lie
    left of the red centroid (then strongly, logit 3): a mirror image changes its mind."""

    def run(self, images, threshold=None):
        out = super().run(images, threshold)
        for b, im in enumerate(images):
            red = (im[..., 0] > 200) & (im[..., 1] < 60) & (im[..., 2] < 60)
            blue = (im[..., 2] > 200) & (im[..., 0] < 60)
            if red.any() and blue.any():
                strong = np.nonzero(blue)[1].mean() < np.nonzero(red)[1].mean()
                out["handedness"][b, 0] = [0.0, 3.0 if strong else 0.2]
        return out


class SizeSideNet(RedSquareNet):
    """The red-square stub with a side opinion that depends on how large the hand is in the view:
    'right', weakly (logit 0.2), at 14 network px and wider; 'left', surely (logit 3), when smaller
    (as in the zoomed-out view): the two views of one hand disagree."""

    def run(self, images, threshold=None):
        out = super().run(images, threshold)
        for b, im in enumerate(images):
            red = (im[..., 0] > 200) & (im[..., 1] < 60) & (im[..., 2] < 60)
            if red.any():
                xs = np.nonzero(red)[1]
                out["handedness"][b, 0] = [0.0, 0.2] if xs.max() - xs.min() + 1 >= 14 else [3.0, 0.0]
        return out


def _rec(net=None, **views):
    views = {"mirror": False, **views}
    return Reconstructor(net or RedSquareNet(), [FlatHand(), FlatHand()], threshold=0.3, max_hands=4,
                         mode="photo", **views)


def test_zoomed_out_and_mirrored_views_map_photo_pixels_exactly():
    im = _photo(hw=(120, 200), squares=())
    im[26:38, 146:158] = (255, 0, 0)  # a 12-px red block centred at photo pixel (151.5, 31.5)
    views, inputs, A = photo_views(im, R, zoom_out=0.5, mirror=True)
    assert [(v.zoom, v.mirrored) for v in views[-2:]] == [(0.5, False), (1.0, True)] and len(views) > 3
    A, inputs = A[[0, -2, -1]], inputs[[0, -2, -1]]  # the whole view, zoomed out, mirrored (tiles between)
    p = np.array([151.5, 31.5, 1.0])
    q = A[1] @ p  # the zoomed-out view: half the whole view's distance from the canvas centre
    np.testing.assert_allclose(q[:2] - (R - 1) / 2, 0.5 * ((A[0] @ p)[:2] - (R - 1) / 2), atol=1e-9)
    np.testing.assert_allclose(np.linalg.solve(A[1], q), p, atol=1e-9)  # and back
    for k, photo_pt in ((1, p), (2, np.array([200 - 1 - 151.5, 31.5, 1.0]))):  # mirrored: u -> W-1-u
        u, v = (A[k] @ photo_pt)[:2]
        w = np.clip(inputs[k][..., 0].astype(float) - inputs[k][..., 1], 0, None)  # redness
        ys, xs = np.mgrid[: w.shape[0], : w.shape[1]]
        assert abs((w * xs).sum() / w.sum() - u) < 0.3 and abs((w * ys).sum() / w.sum() - v) < 0.3
    with pytest.raises(ValueError, match="zoom_out must be"):
        photo_views(im, R, zoom_out=1.5)


def test_a_frame_filling_hand_is_found_through_the_zoomed_out_view_and_stays_one_hand():
    im = np.full((64, 64, 3), 90, np.uint8)  # (no tiles at this size: the whole view sees it all)
    im[:, 8:56] = (255, 0, 0)  # fills the frame: cut by it in the whole view (score 0.4)
    (cut,) = _rec().predict(im)
    assert cut.score == pytest.approx(0.4)
    rec = _rec(zoom_out=0.5)
    (hand,) = rec.predict(im)  # one hand: the zoomed-out view's uncut copy (0.9) wins the merge
    assert hand.score == pytest.approx(0.9) and len(rec.network.inputs[-1]) == 2
    np.testing.assert_allclose(hand.keypoints2d[0], [31.5, 31.5], atol=2)
    np.testing.assert_allclose(hand.K, virtual_camera(im.shape[:2], R), atol=1e-4)  # the photo's camera
    assert hand.transl[2] == pytest.approx(0.5 * cut.transl[2], rel=0.05)  # twice as near as it looks
    small = _photo(hw=(48, 64), squares=((24, 16, 16),))  # seen whole and zoomed out: still one hand
    (whole,) = rec.predict(small, zoom_out=0)
    (both,) = rec.predict(small)
    assert both.score == whole.score == pytest.approx(0.9)


def test_with_the_zoomed_out_view_each_hands_side_is_voted_by_its_copies_in_both_views():
    im = _photo(hw=(48, 64), squares=((32, 24, 20),))  # no tiles: the whole view and the zoomed-out one
    rec = _rec(SizeSideNet())
    (alone,) = rec.predict(im)  # the whole view alone: weakly right
    assert alone.side == 1 and alone.handedness[1] == pytest.approx(1 / (1 + np.exp(-0.2)), abs=1e-4)
    (voted,) = rec.predict(im, zoom_out=0.5)  # its zoomed-out copy is surely left: the mean says left
    assert len(rec.network.inputs[-1]) == 2 and voted.side == 0
    assert 0.5 < voted.handedness[0] < 1 / (1 + np.exp(-3.0))  # between the two opinions
    # the same hand, now decoded from the zoomed copy (its cells are twice as coarse in the photo)
    np.testing.assert_allclose(voted.keypoints2d.mean(0), alone.keypoints2d.mean(0), atol=4.0)
    assert rec.predict_batch([im], side=1, zoom_out=0.5)[0][0].side == 1  # a forced side: no vote


def test_mirror_round_trip_and_the_left_model_is_the_mirrored_right_one():
    rng = np.random.default_rng(0)
    K = virtual_camera((120, 200), R)
    Km = mirror_camera(K, 200)
    joints = np.array([[0.03, -0.01, 0.5], [-0.02, 0.04, 0.7]], np.float32)
    uv = joints @ Km.T
    h = replace(_hand((10, 10, 50, 50), 0.8), side=1, global_orient=rng.normal(size=3).astype(np.float32),
                joints3d=joints, keypoints2d=(uv[:, :2] / uv[:, 2:]).astype(np.float32),
                handedness=np.array([0.3, 0.7], np.float32))
    m = mirror_hand(h, 200, K)
    assert m.side == 0 and list(m.handedness) == pytest.approx([0.7, 0.3])
    uvw = m.joints3d @ K.T  # the mirrored-back hand's 3D still projects onto its 2D, in the photo's K
    np.testing.assert_allclose(uvw[:, :2] / uvw[:, 2:], m.keypoints2d, atol=1e-3)
    np.testing.assert_allclose(m.keypoints2d[:, 0], 199 - h.keypoints2d[:, 0], atol=1e-4)
    back = mirror_hand(m, 200, Km)
    for f in ("keypoints2d", "joints3d", "global_orient", "pose", "transl", "center", "handedness"):
        np.testing.assert_allclose(getattr(back, f), getattr(h, f), atol=1e-5)
    files = user_files("anny", None)  # the convention mirror_hand relies on, for the shipped hand model
    left, right = (NumpyHandModel.load("anny", s, files) for s in ("left", "right"))
    go, pose = rng.normal(0, 0.5, (1, 3)), rng.normal(0, 0.3, (1, 45))
    betas, t = rng.normal(size=(1, 10)), np.array([[0.05, -0.02, 0.6]])
    vr, jr = right(go, pose, betas, t)
    vl, jl = left(mirror_hand(replace(h, global_orient=go[0], pose=pose[0]), 200, K).global_orient[None],
                  (pose.reshape(-1, 3) * [1, -1, -1]).reshape(1, 45), betas, t * [-1, 1, 1])
    np.testing.assert_allclose(vl, vr * [-1, 1, 1], atol=1e-5)
    np.testing.assert_allclose(jl, jr * [-1, 1, 1], atol=1e-5)


def test_the_vote_keeps_one_hand_and_a_changed_side_takes_the_mirrored_geometry():
    h = replace(_hand((10, 10, 50, 50), 0.8), side=1, handedness=np.array([0.45, 0.55], np.float32))
    m = replace(_hand((12, 10, 52, 50), 0.6), side=0, handedness=np.array([0.9, 0.1], np.float32))
    far = replace(_hand((200, 10, 240, 50), 0.7), side=1, handedness=np.array([0.1, 0.9], np.float32))
    (v,) = vote_sides([h], [m, far])
    assert v.side == 0 and v.score == 0.8 and v.handedness == pytest.approx([0.675, 0.325])
    np.testing.assert_array_equal(v.keypoints2d, m.keypoints2d)  # geometry of the voted side's decode
    sure = replace(h, handedness=np.array([0.05, 0.95], np.float32))
    (kept,) = vote_sides([sure], [m])  # the surer direct view wins: its own hand unchanged
    assert kept.side == 1 and kept.keypoints2d is sure.keypoints2d
    assert vote_sides([h], [far]) == [h]  # no match: no vote
    other = replace(_hand((40, 10, 80, 50), 0.7), side=0, handedness=np.array([0.9, 0.1], np.float32))
    assert vote_sides([h, other], [m]) == [h, other]  # two hands in contact: no vote (m may be either)


def test_options_reach_the_views_and_the_vote_changes_the_side_end_to_end():
    im = _photo(hw=(48, 64), squares=((36, 12, 20),))
    im[12:32, 56:58] = (0, 0, 255)  # blue on the square's right: the direct view is unsure 'right'
    rec = _rec(BlueEdgeNet())
    (plain,) = rec.predict(im)
    assert plain.side == 1 and len(rec.network.inputs[-1]) == 1
    (voted,) = rec.predict(im, mirror=True)  # mirrored, blue is on the left: surely right -> left
    assert len(rec.network.inputs[-1]) == 2 and voted.side == 0
    np.testing.assert_allclose(voted.keypoints2d[0], plain.keypoints2d[0], atol=1.5)  # mapped back
    uvw = voted.joints3d @ voted.K.T
    np.testing.assert_allclose(uvw[:, :2] / uvw[:, 2:], voted.keypoints2d, atol=0.05)
    assert rec.predict(im, mirror=True, zoom_out=0.5)[0].side == 0 and len(rec.network.inputs[-1]) == 3
    assert rec.predict_batch([im], mirror=True, side=1)[0][0].side == 1  # a forced side: no vote
    assert len(rec.network.inputs[-1]) == 1
    assert len(_rec(zoom_out=0.5, mirror=True).predict(im, mode="fast")) == 1  # fast mode: one view
    plain_rec = Reconstructor(RedSquareNet(), [FlatHand(), FlatHand()], mode="photo")
    assert plain_rec.zoom_out == 0 and not plain_rec.mirror  # off by default (docs/evaluation.md)
    plain_rec.predict(im)
    assert len(plain_rec.network.inputs[-1]) == 1
    with pytest.raises(ValueError, match="zoom_out must be 0"):
        rec.predict(im, zoom_out=2.0)


def test_of_two_copies_the_one_seen_at_a_size_the_network_reads_wins():
    whole = View((0, 0, 400, 400), whole=True, scale=1 / 400)  # the photo fills the input: side = box / 400
    zoomed = View((0, 0, 400, 400), zoom=0.5, scale=0.5 / 400)
    big = _hand((0, 20, 380, 390), 0.8)  # fills the frame: 0.95 of the input (x 0.625 / 0.95 when ranked)
    big_z = _hand((5, 25, 375, 385), 0.6)  # its zoomed-out copy: 0.46, inside FIT
    assert merge_views([[big], [big_z]], [whole, zoomed], (400, 400), 10) == [big_z]
    mid = _hand((100, 100, 260, 250), 0.6)  # 0.4 of the input, inside FIT ...
    mid_z = _hand((102, 98, 262, 252), 0.7)  # ... its zoomed-out copy 0.2: below (0.7 x 0.8 < 0.6)
    assert merge_views([[mid], [mid_z]], [whole, zoomed], (400, 400), 10) == [mid]
    assert merge_views([[mid], [mid_z]], [View(whole.box, whole=True), View(whole.box)], (400, 400), 10) \
        == [mid_z]  # views without a scale: by score alone  # fmt: skip
