"""Stress sets from labelled photos (smhr.data.stress): the warp carries image, keypoints and ignore
regions together; frame-filling scales the hand to the asked share of the frame; close-ups are
upright and cut just below the wrist."""

import numpy as np

from smhr.data.sample import HandLabel, Sample
from smhr.data.stress import closeup_no_arm, frame_filling, warp_sample


def _sample(angle_deg: float = 0.0, size: int = 200) -> Sample:
    """A textured image with one 'hand': keypoints on a fan pointing `angle_deg` from up."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (size, size + 40, 3), dtype=np.uint8)
    t = np.deg2rad(angle_deg)
    up = np.array([np.sin(t), -np.cos(t)])
    right = np.array([np.cos(t), np.sin(t)])
    wrist = np.array([120.0, 150.0])
    pts = [wrist] + [wrist + up * (20 + 10 * (k % 4)) + right * (k // 4 - 2) * 12 for k in range(20)]
    kp = np.array(pts, np.float32)
    hand = HandLabel(side=0, keypoints2d=kp, visibility=np.ones(21, bool))
    return Sample(image=image, K=None, hands=[hand], ignore=np.array([[0, 0, 30, 30]], np.float32),
                  source="t", id="a")


def test_warp_moves_pixels_keypoints_and_ignore_boxes_together():
    s = _sample()
    A = np.array([[2.0, 0, -150], [0, 2.0, -170]])
    w = warp_sample(s, A, 128, "x")
    kp_in = np.round(s.hands[0].keypoints2d[5]).astype(int)
    kp_out = np.round(w.hands[0].keypoints2d[5]).astype(int)
    np.testing.assert_allclose(kp_out, 2 * kp_in - [150, 170], atol=1)
    # the warped pixel at the moved keypoint matches the source pixel's neighbourhood
    src = s.image[kp_in[1] - 1:kp_in[1] + 2, kp_in[0] - 1:kp_in[0] + 2].reshape(-1, 3).astype(int)
    assert np.abs(src - w.image[kp_out[1], kp_out[0]].astype(int)).sum(1).min() < 60
    assert w.id == "a#x" and w.ignore.shape == (0, 4)  # the ignore box left the frame
    w2 = warp_sample(s, np.array([[1.0, 0, 10], [0, 1.0, 10]]), 128, "y")
    np.testing.assert_allclose(w2.ignore, [[10, 10, 40, 40]])


def test_frame_filling_scales_the_hand_to_the_asked_share_and_cuts_it_beyond_one():
    samples = [_sample() for _ in range(40)]
    out = frame_filling(samples, size=256, seed=1, min_hand_px=10)
    assert len(out) == 40
    shares, cut = [], []
    for o in out:
        frac = float(o.meta["stress"][4:])
        kp = o.hands[0].keypoints2d
        share = float((kp.max(0) - kp.min(0)).max()) / 256
        np.testing.assert_allclose(share, frac, atol=0.006)  # (tag rounded to 0.01)
        shares.append(share)
        cut.append(not o.hands[0].visibility.all())
    assert min(shares) >= 0.6 and max(shares) <= 1.3 and max(shares) > 1.1
    assert all(c for s, c in zip(shares, cut, strict=True) if s > 1.0)  # beyond the frame: cut


def test_closeup_is_upright_and_leaves_out_what_lies_below_the_wrist():
    for angle in (0.0, 70.0, 180.0, -120.0):
        (o,) = closeup_no_arm([_sample(angle)], size=128, min_hand_px=10)
        kp = o.hands[0].keypoints2d
        assert o.hands[0].visibility.all()
        up = kp[9] - kp[0]
        assert up[1] < 0 and abs(up[0]) < 1e-3 * abs(up[1]) + 1e-3  # points straight up
        assert 0.9 * 128 < kp[0, 1] < 128  # the wrist sits just above the bottom edge
        assert (kp[1:, 1] < kp[0, 1]).all()
    assert closeup_no_arm([_sample()], min_hand_px=500) == []  # too small a hand: not used


def test_border_keeps_labels_on_their_pixels_and_blackens_the_frame():
    from smhr.data.stress import with_border

    (f,) = frame_filling([_sample()], size=64, seed=0, min_hand_px=10)
    (b,) = with_border([f], 0.5)
    assert b.image.shape == (128, 128, 3) and b.image[:32].max() == 0 and b.image[:, -32:].max() == 0
    np.testing.assert_allclose(b.hands[0].keypoints2d, f.hands[0].keypoints2d + 32, atol=1e-4)
    np.testing.assert_array_equal(b.image[32:96, 32:96], f.image)
    assert b.hands[0].visibility.sum() == f.hands[0].visibility.sum()


def test_frame_filling_stays_inside_the_photo_where_it_fits():
    s = _sample()  # 240 x 200 px, hand about 60 px, moved into the bottom-right corner
    s.hands[0].keypoints2d += np.array([238.0, 198.0]) - s.hands[0].keypoints2d.max(0)
    n_fit = 0
    for o in frame_filling([s] * 20, size=64, seed=2, min_hand_px=10):
        frac = float(o.meta["stress"][4:])
        z = frac * 64 / float(np.ptp(s.hands[0].keypoints2d, axis=0).max())
        if 64 / z <= 200:  # the frame fits: no repeated edge pixels, every pixel from the photo
            A_inv_origin = (o.hands[0].keypoints2d[0] - s.hands[0].keypoints2d[0] * z) / -z
            # (half a pixel of slack: z comes from the tag's rounded scale)
            assert (A_inv_origin >= -0.5).all() and (A_inv_origin + 64 / z <= [240.5, 200.5]).all()
            n_fit += 1
    assert n_fit == 20
