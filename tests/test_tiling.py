"""Photo mode (`smhr.runtime.tiling`): tiles that cover the photo with overlap, hands found in a tile
mapped back to the photo in its one camera, duplicates across views merged, fast mode unchanged."""

import itertools
from dataclasses import replace

import numpy as np
import pytest

from smhr.geometry.letterbox import network_inputs, virtual_camera
from smhr.records import Hand
from smhr.runtime.calibration import Calibration
from smhr.runtime.contract import STRIDE
from smhr.runtime.decode import decode_peaks
from smhr.runtime.reconstructor import Reconstructor
from smhr.runtime.tiling import (
    MAX_UPSCALE,
    MIN_OVERLAP,
    View,
    axis_starts,
    merge_views,
    photo_views,
    tile_boxes,
)

R = 64  # network input of the stub


class FlatHand:
    """Stand-in hand model: 21 joints on a 4 cm square around the model origin (joint 0 there)."""

    num_vertices, kind = 4, "flat"

    def __init__(self) -> None:
        g = np.linspace(-0.02, 0.02, 5)
        self.joints = np.array([[0.0, 0.0, 0.0]] + [[x, y, 0.0] for x in g for y in g[:4]], np.float32)

    def __call__(self, global_orient, pose, betas, transl):
        t = np.asarray(transl, np.float32)[:, None]
        return self.joints[:4] + t, self.joints + t


class RedSquareNet:
    """Peaks-contract stub: 'finds' one hand per input at the centroid of its pure-red pixels, with
    score 0.9 when the red patch is at least MIN_PX network pixels wide (smaller: not found, like a
    far hand in a whole-body photo) and reaches no input border (else 0.4: a cut hand); several
    separate patches in one input are not found."""

    backend, input_size, hand_model, max_hands = "stub", R, "flat", 4
    calibration = Calibration()
    MIN_PX = 6

    def __init__(self) -> None:
        self.inputs: list[np.ndarray] = []

    def run(self, images, threshold=None):
        self.inputs.append(images)
        B, S, W = len(images), 4, R // STRIDE
        out = {"scores": np.zeros((B, S), np.float32), "cells": np.zeros((B, S), np.int64),
               "params": np.zeros((B, S, 122), np.float32), "kp_offsets": np.zeros((B, S, 42), np.float32),
               "handedness": np.zeros((B, S, 2), np.float32)}  # fmt: skip
        for b, im in enumerate(images):
            red = (im[..., 0] > 200) & (im[..., 1] < 60) & (im[..., 2] < 60)
            if not red.any():
                continue
            ys, xs = np.nonzero(red)
            w, h = xs.max() - xs.min() + 1, ys.max() - ys.min() + 1
            if w < self.MIN_PX or red.sum() < 0.5 * w * h:  # small, or several patches: nothing
                continue
            cut = xs.min() == 0 or ys.min() == 0 or xs.max() == R - 1 or ys.max() == R - 1
            cx, cy = xs.mean(), ys.mean()
            out["scores"][b, 0] = 0.4 if cut else 0.9
            out["cells"][b, 0] = int(cy // STRIDE) * W + int(cx // STRIDE)
            out["params"][b, 0, 61 + 58 : 61 + 60] = [cx % STRIDE - STRIDE / 2, cy % STRIDE - STRIDE / 2]
            out["handedness"][b, 0] = [-1.0, 1.0]  # right
        return out


def _rec(mode="photo", max_hands=4):
    return Reconstructor(RedSquareNet(), [FlatHand(), FlatHand()], threshold=0.3, max_hands=max_hands,
                         mode=mode, mirror=False)  # (the tiles alone; the extra views: test_photo_views.py)


def _photo(hw=(320, 480), squares=((200, 150, 20),)):
    im = np.full((*hw, 3), 90, np.uint8)
    for x, y, side in squares:
        im[y : y + side, x : x + side] = (255, 0, 0)
    return im


@pytest.mark.parametrize("hw", [(320, 480), (480, 320), (3000, 4000), (1080, 1920), (150, 400)])
def test_tiles_cover_the_photo_overlap_and_never_upscale_much(hw):
    H, W = hw
    boxes = tile_boxes(hw, 256)
    assert tile_boxes((280, 280), 256) == []  # a small photo: the whole view is all there is
    covered = np.zeros(hw, bool)
    for x0, y0, x1, y1 in boxes:
        assert 0 <= x0 < x1 <= W and 0 <= y0 < y1 <= H
        assert max(x1 - x0, y1 - y0) >= 256 / MAX_UPSCALE - 1
        covered[y0:y1, x0:x1] = True
    assert covered.all()
    side = max(boxes[0][2] - boxes[0][0], boxes[0][3] - boxes[0][1])
    for extent in (W, H):
        starts = axis_starts(extent, side)
        assert starts[0] == 0 and starts[-1] + side >= extent
        assert all(b - a <= (1 - MIN_OVERLAP) * side + 1 for a, b in itertools.pairwise(starts))
    assert len(tile_boxes((3000, 4000), 256)) <= 16  # a 12-MP photo: a bounded number of runs


def test_a_hand_found_only_in_a_tile_maps_back_to_the_photo_in_its_one_camera():
    im = _photo()
    assert _rec("fast").predict(im) == []  # 20 px of 480 is ~3 px at the 64-px input: missed whole
    rec = _rec()
    (hand,) = rec.predict(im)
    assert hand.score == pytest.approx(0.9)
    np.testing.assert_allclose(hand.keypoints2d[0], [209.5, 159.5], atol=3)  # the square's centre
    np.testing.assert_allclose(hand.K, virtual_camera(im.shape[:2], R), atol=1e-4)  # the photo's camera
    uvw = hand.joints3d @ hand.K.T  # 3D and 2D agree in that camera
    np.testing.assert_allclose(uvw[:, :2] / uvw[:, 2:], hand.keypoints2d, atol=0.05)
    views = rec.network.inputs[-1]
    assert len(views) == 1 + len(rec.tiles(im.shape[:2]))
    zoom = R / (rec.tiles(im.shape[:2])[0][2] - rec.tiles(im.shape[:2])[0][0])
    f_tile = zoom * 0.5 * (hand.K[0, 0] + hand.K[1, 1])  # the photo's focal seen through the tile
    # farther: smaller in the photo (within the 1-px rounding of the tile cut from the photo shrunk 2x)
    assert hand.transl[2] == pytest.approx(0.8 * f_tile / 512, rel=2e-2)
    assert 3.0 < hand.transl[2] / 0.8 < 3.2  # (the tile zooms 480 / 155 px)


def test_a_hand_seen_whole_and_in_tiles_is_one_hand_and_the_cut_copy_loses():
    im = _photo(squares=((150, 100, 120),))  # large: found whole, in tiles, and cut by tile borders
    rec = _rec()
    hands = rec.predict(im)
    assert len(hands) == 1 and hands[0].score == pytest.approx(0.9)
    np.testing.assert_allclose(hands[0].keypoints2d[0], [209.5, 159.5], atol=4)
    fast = _rec("fast").predict(im)
    np.testing.assert_allclose(hands[0].keypoints2d, fast[0].keypoints2d, atol=4)
    two = rec.predict(_photo(squares=((40, 40, 20), (400, 250, 20))))  # two far hands, two tiles
    assert len(two) == 2
    assert len(_rec(max_hands=1).predict(_photo(squares=((40, 40, 20), (400, 250, 20))))) == 1


def _hand(box, score):
    x0, y0, x1, y1 = box
    kp = np.stack(np.meshgrid(np.linspace(x0, x1, 7), np.linspace(y0, y1, 3)), -1).reshape(21, 2)
    z = np.zeros(3, np.float32)
    return Hand(0, score, kp.mean(0), z, np.zeros(45), np.zeros(10), z, np.zeros((4, 3)), np.zeros((21, 3)),
                kp.astype(np.float32), kp.astype(np.float32), np.eye(3))


def test_merge_prefers_the_whole_hand_over_a_higher_scored_cut_copy_and_keeps_one_views_pairs():
    views = [View((0, 0, 400, 300), whole=True), View((0, 0, 200, 200)), View((150, 0, 350, 200))]
    cut = _hand((170, 50, 199, 90), 0.8)  # tile 1's right border cuts it
    whole = _hand((170, 50, 215, 90), 0.6)  # the same hand, whole in tile 2
    kept = merge_views([[], [cut], [whole]], views, (300, 400), 10)
    assert kept == [whole]
    a, b = _hand((10, 10, 50, 50), 0.7), _hand((20, 15, 60, 55), 0.5)  # one view's two touching hands
    assert merge_views([[a, b], [], []], views, (300, 400), 10) == [a, b]
    a2 = _hand((12, 12, 52, 52), 0.9)  # ... and a tile's copy of the first one
    assert merge_views([[a, b], [a2], []], views, (300, 400), 10) == [a2, b]
    cut2 = _hand((172, 52, 199, 88), 0.5)  # a second, lower piece of the cut hand from tile 1
    assert merge_views([[], [cut, cut2], [whole]], views, (300, 400), 10) == [whole]


def _sided(box, score, p_right):
    return replace(_hand(box, score), side=int(p_right > 0.5),
                   handedness=np.array([1 - p_right, p_right], np.float32))  # fmt: skip


def test_the_side_vote_weighs_every_uncut_copy_and_a_copy_of_the_voted_side_stands_in():
    views = [View((0, 0, 400, 300), whole=True), View((0, 0, 200, 200)), View((150, 0, 350, 200))]
    kept = _sided((20, 20, 60, 60), 0.9, 0.6)  # the whole view: best score, says right (0.6)
    tile = _sided((21, 21, 61, 61), 0.8, 0.1)  # tile 1's copy: sure it is left
    off = merge_views([[kept], [tile], []], views, (300, 400), 10)
    assert off == [kept]  # the vote is opt-in: without it the kept copy's side stands
    (voted,) = merge_views([[kept], [tile], []], views, (300, 400), 10, side_vote=True)
    w = np.array([0.9, 0.8])
    assert voted.handedness[1] == pytest.approx((0.6 * w[0] + 0.1 * w[1]) / w.sum())  # 0.365: left
    assert voted.side == 0 and voted.score == 0.9  # the left copy's geometry, the kept copy's score
    assert voted.keypoints2d[0, 0] == tile.keypoints2d[0, 0]
    sure = _sided((20, 20, 60, 60), 0.9, 0.95)  # a surer kept copy outvotes the tile: its own side stays
    (same,) = merge_views([[sure], [tile], []], views, (300, 400), 10, side_vote=True)
    assert same.side == 1 and same.keypoints2d[0, 0] == sure.keypoints2d[0, 0]
    cut = _sided((170, 50, 199, 90), 0.3, 0.0)  # cut by tile 1's border: a piece, it does not vote
    whole = _sided((170, 50, 215, 90), 0.6, 0.7)
    (w2,) = merge_views([[], [cut], [whole]], views, (300, 400), 10, side_vote=True)
    assert w2.side == 1 and w2.handedness[1] == pytest.approx(0.7)
    lone = _sided((300, 200, 340, 240), 0.5, 0.4)  # no copy in another view: unchanged
    assert merge_views([[lone], [], []], views, (300, 400), 10, side_vote=True) == [lone]


def test_a_strip_thinner_than_the_shrink_factor_is_still_cut_into_views():
    """An 8 x 7,000 px strip at the shipped 256 px input: its tiles would ask a 9x shrink, which would
    leave no row."""
    views, inputs, affines = photo_views(np.full((8, 7000, 3), 90, np.uint8), 256)
    assert len(views) > 1 and inputs.shape[1:] == (256, 256, 3)
    far = np.linalg.inv(affines[0]) @ np.array([255.0, 128.0, 1.0])  # the whole view's right edge
    assert abs(far[0] - 6999.5) < 7000 / 256


def test_fast_mode_is_the_one_letterboxed_view_as_before():
    im = _photo(squares=((150, 100, 120),))
    rec = _rec("fast")
    hands = rec.predict(im)
    boxed, A, _ = network_inputs([im], R)
    before = decode_peaks(RedSquareNet().run(boxed), rec.hand_models, R, R // STRIDE, A, 0.3)[0]
    assert len(hands) == len(before) == 1
    for got, want in zip(hands, before, strict=True):
        np.testing.assert_array_equal(got.keypoints2d, want.keypoints2d)
        np.testing.assert_array_equal(got.K, want.K)
        np.testing.assert_array_equal(got.transl, want.transl)
    assert len(rec.network.inputs[-1]) == 1 and rec.tiles(im.shape[:2]) == []
    with pytest.raises(ValueError, match="mode must be one of fast, photo"):
        rec.predict(im, mode="tiles")


def test_a_tile_copy_of_a_hand_larger_than_the_tile_is_a_piece_even_inside_the_tile():
    # a 640-px photo: the whole view sees a 270-px hand; the 213-px tile under its fingers reports
    # two smaller hands inside itself, a little higher scored (measured on a never-trained-on photo)
    views = [View((0, 0, 640, 640), whole=True), View((285, 285, 498, 498))]
    whole = _hand((171, 223, 444, 493), 0.346)
    piece, piece2 = _hand((384, 368, 445, 481), 0.35), _hand((357, 334, 434, 444), 0.301)
    assert merge_views([[whole], [piece, piece2]], views, (640, 640), 10) == [whole]
    # a small hand the tile sees whole, beside (not inside) the large one, stays
    small = _hand((450, 300, 490, 340), 0.5)
    assert merge_views([[whole], [small]], views, (640, 640), 10) == [small, whole]
    # a copy from another view that lies inside the tile does not make the tile's copy a piece
    inside = _hand((380, 360, 450, 485), 0.3)
    assert merge_views([[inside], [piece]], views, (640, 640), 10) == [piece]
