"""Training close-ups (`smhr.data.closeups`): the cut at the wrist, the turn, the mirrored side, and
the photo's other labels carried along."""

from __future__ import annotations

import numpy as np
import pytest

from smhr.data.closeups import CloseupConfig, CloseupViews
from smhr.data.kinds import build_data_config
from smhr.data.sample import HandLabel, Sample, SampleDataset
from smhr.data.stress import closeup_affine


def upright_hand(x0: float = 100.0, y0: float = 60.0, w: float = 40.0, h: float = 80.0) -> np.ndarray:
    """21 keypoints of a hand pointing up: wrist at the bottom centre, fingers spread above it."""
    kp = np.zeros((21, 2), np.float32)
    kp[0] = (x0 + w / 2, y0 + h)  # wrist
    for f in range(5):
        x = x0 + f * w / 4
        for k in range(4):
            kp[1 + 4 * f + k] = (x, y0 + h * (0.6 - 0.2 * k))
    kp[9] = (x0 + w / 2, y0 + 0.6 * h)  # middle-finger knuckle straight above the wrist
    return kp


class Photos(SampleDataset):
    def __init__(self, samples: list[Sample]) -> None:
        self.samples = samples

    def __len__(self) -> int:
        return len(self.samples)

    def load(self, index: int) -> Sample:
        return self.samples[index].copy()


def photo(hands: list[HandLabel], ignore: list[list[float]] | None = None) -> Sample:
    image = np.zeros((240, 320, 3), np.uint8)
    image[:, :160] = (200, 30, 30)  # left half red: tells a mirrored view from a plain one
    boxes = np.asarray(ignore or [], np.float32).reshape(-1, 4)
    return Sample(image=image, K=None, hands=hands, ignore=boxes, source="toy", id="p0")


def test_the_upright_view_cuts_below_the_wrist_and_fills_the_asked_share():
    kp = upright_hand()
    A = closeup_affine(kp, 256, fill=0.8, wrist_margin=0.1, shift=0.0, rotation_deg=0.0)
    q = kp @ A[:, :2].T + A[:, 2]
    height = q[:, 1].max() - q[:, 1].min()
    assert height == pytest.approx(0.8 * 256 / 1.1, rel=1e-4)  # the hand + 10 % below it fill 80 %
    bottom = q[0, 1] + 0.1 * height
    assert bottom == pytest.approx(255.0 + 1.0, abs=1.0)  # the bottom edge just below the wrist
    assert q[9, 1] < q[0, 1] and abs(q[9, 0] - q[0, 0]) < 1e-3  # still pointing up
    assert 0.5 * (q[:, 0].min() + q[:, 0].max()) == pytest.approx(128.0, abs=1.0)  # centred sideways


def test_a_sideways_hand_is_turned_upright_then_by_the_asked_angle():
    kp = upright_hand()
    R = np.array([[0.0, -1.0], [1.0, 0.0]])  # the photo's hand points left
    kp_left = (kp - kp[0]) @ R.T + 150.0
    for turn in (0.0, 30.0):
        A = closeup_affine(kp_left, 256, fill=0.8, wrist_margin=0.1, shift=0.0, rotation_deg=turn)
        q = kp_left @ A[:, :2].T + A[:, 2]
        up = q[9] - q[0]
        angle = np.degrees(np.arctan2(up[0], -up[1]))  # 0 = up, positive = turned clockwise on screen
        assert angle == pytest.approx(turn, abs=1e-3)
    assert closeup_affine(np.zeros((21, 2)), 256, 0.8, 0.1, 0.0, 0.0) is None


def test_views_are_drawn_per_index_and_epoch_and_mirror_with_the_side_swapped():
    other = upright_hand(230, 20, 20, 40)
    hidden = HandLabel(side=0, keypoints2d=other, visibility=np.r_[[False], np.ones(20, bool)])
    hands = [HandLabel(side=1, keypoints2d=upright_hand(), visibility=np.ones(21, bool)), hidden]
    photos = Photos([photo(hands, ignore=[[0, 0, 40, 40]])])
    views = CloseupViews([photos], 128, CloseupConfig(length=8, flip_prob=0.0, rotation_deg=0.0), seed=3)
    assert views.hands == [(0, 0, 0)]  # the hand with a hidden keypoint is never the close-up's hand
    a, b = views.load(2), views.load(2)
    assert np.array_equal(a.image, b.image) and np.allclose(a.hands[0].keypoints2d, b.hands[0].keypoints2d)
    views.set_epoch(1)
    c = views.load(2)
    assert not np.allclose(a.hands[0].keypoints2d, c.hands[0].keypoints2d)
    assert a.hands[0].side == 1 and a.hands[0].visibility.all()
    assert len(a.hands) == 2  # the photo's other hand comes along, its visibility clipped to the view
    assert not (a.hands[1].visibility & ~hidden.visibility).any()
    assert a.mask is not None and a.mask.shape == (128, 128) and (a.mask == 1).sum() > 0.1 * 128 * 128
    mirrored = CloseupViews([photos], 128, CloseupConfig(length=8, flip_prob=1.0, rotation_deg=0.0), seed=3)
    m = mirrored.load(2)
    assert m.hands[0].side == 0  # a mirrored right hand is a left hand
    assert np.allclose(m.hands[0].keypoints2d[:, 0], 127 - a.hands[0].keypoints2d[:, 0], atol=1e-4)
    assert np.array_equal(m.image, a.image[:, ::-1])


def test_no_usable_hand_is_refused_with_the_setting_to_change():
    tiny = HandLabel(side=1, keypoints2d=upright_hand(w=8, h=16), visibility=np.ones(21, bool))
    with pytest.raises(ValueError, match=r"closeup\.min_hand_px"):
        CloseupViews([Photos([photo([tiny])])], 128, CloseupConfig(min_hand_px=48))


def test_an_unknown_closeup_key_names_the_known_ones():
    cfg = build_data_config({"kind": "closeup_labelled", "roots": ["x"], "closeup": {"fil": 0.5}})
    with pytest.raises(ValueError, match=r"data.closeup key\(s\) \['fil'\] unknown; choose from .*'fill'"):
        cfg.build(128, 0)


def test_back_prob_draws_backs_and_palms_in_the_asked_share():
    back = HandLabel(side=1, keypoints2d=upright_hand(), visibility=np.ones(21, bool))  # thumb left: a back
    palm = HandLabel(side=0, keypoints2d=upright_hand(200, 60), visibility=np.ones(21, bool))  # same, left
    photos = Photos([photo([back, palm])])

    def drawn(back_prob: float | None) -> list[str]:
        cfg = CloseupConfig(length=40, flip_prob=0.5, back_prob=back_prob)
        views = CloseupViews([photos], 64, cfg, seed=5)
        return [views.load(i).id[-1] for i in range(40)]

    assert set(drawn(1.0)) == {"0"} and set(drawn(0.0)) == {"1"}
    assert drawn(None).count("0") not in (0, 40)  # both, as before the option
    assert 10 <= drawn(0.5).count("0") <= 30
    with pytest.raises(ValueError, match=r"closeup\.back_prob"):
        CloseupViews([photos], 64, CloseupConfig(back_prob=1.5))
