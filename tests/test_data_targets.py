"""CenterNet-style targets and batch collation."""

import numpy as np
import pytest
import torch

from smhr.data.sample import LEFT, RIGHT, HandLabel, HandParams, Sample, collate_samples
from smhr.data.targets import build_targets, draw_gaussian, gaussian_radius, hand_centers


def _hand(side, centre, spread=8.0, joints=False):
    rng = np.random.default_rng(side)
    kp = rng.uniform(-spread, spread, (21, 2)).astype(np.float32)
    kp = kp - kp.mean(0) + np.asarray(centre, np.float32)  # mean of keypoints = centre exactly
    j3 = np.ones((21, 3), np.float32) if joints else None
    return HandLabel(side, kp, np.ones(21, bool), joints3d=j3)


def _sample(hands, size=64, mask=None):
    return Sample(image=np.zeros((size, size, 3), np.uint8), K=np.eye(3), hands=hands, mask=mask)


def test_gaussian_radius_known_values():
    # CenterNet rule by hand for a 10x10 box, overlap 0.7: r2 = (40 - sqrt(40^2 - 16*30)) / 8 = 0.8167
    assert gaussian_radius(10, 10) == pytest.approx(0.81670, abs=1e-4)
    assert gaussian_radius(28, 28) == pytest.approx(2.28676, abs=1e-4)  # (112 - sqrt(112^2-16*235.2))/8
    assert gaussian_radius(20, 40) == pytest.approx(gaussian_radius(40, 20))
    assert gaussian_radius(56, 56) == pytest.approx(2 * gaussian_radius(28, 28))  # linear in size


def test_draw_gaussian_peak_and_clipping():
    hm = np.zeros((8, 8), np.float32)
    draw_gaussian(hm, (0, 7), 2)  # corner: clipped, no error
    assert hm[7, 0] == 1.0 and hm.argmax() == 7 * 8 + 0
    assert hm[7, 2] == pytest.approx(np.exp(-4 / (2 * (5 / 6) ** 2)), rel=1e-5)
    assert hm[4, 0] == 0  # outside the radius


def test_hand_centers_mean_of_visible_then_box():
    kp = np.zeros((2, 21, 2), np.float32)
    kp[0, :, 0] = np.arange(21)
    vis = np.zeros((2, 21), bool)
    vis[0, :3] = True
    c, ok = hand_centers(kp, vis, np.array([[np.nan] * 4, [10, 20, 30, 40]]))
    np.testing.assert_allclose(c, [[1.0, 0.0], [20.0, 30.0]])
    assert ok.tolist() == [True, True]
    _, ok = hand_centers(kp, vis & False)
    assert ok.tolist() == [False, False]


def test_peaks_at_centre_cells_and_fields():
    s = _sample([_hand(RIGHT, (30.5, 10.2), joints=True), _hand(LEFT, (9.0, 50.0))])
    s.hands[0].params = HandParams(np.ones(3), np.ones(45), np.ones(10), None)
    t = build_targets(s, input_size=64, output_stride=4, max_hands=3)
    S = 16
    assert t["hm"].shape == (1, S, S) and t["handmap"].shape == (2, S, S)
    assert t["valid"].tolist() == [True, True, False]
    assert t["ind"][:2].tolist() == [2 * S + 7, 12 * S + 2]  # (30.5,10.2)/4 -> cell (7,2); (9,50)/4 -> (2,12)
    assert t["hm"][0, 2, 7] == 1.0 and t["hm"][0, 12, 2] == 1.0
    assert t["handmap"][RIGHT, 2, 7] == 1.0 and t["handmap"][LEFT, 2, 7] < 1.0
    assert t["handmap"][LEFT, 12, 2] == 1.0
    flat = t["hm"][0].flatten()
    assert set(torch.nonzero(flat == 1.0).flatten().tolist()) == {39, 194}
    np.testing.assert_allclose(t["center_offset"][0].numpy(), [30.5 / 4 - 7, 10.2 / 4 - 2], atol=1e-5)
    loc = t["local_keypoints"][0].numpy()
    np.testing.assert_allclose(loc, s.hands[0].keypoints2d / 4 - [7, 2], atol=1e-5)
    assert t["side"][:2].tolist() == [RIGHT, LEFT]
    assert t["has_joints3d"].tolist() == [True, False, False]
    assert t["has_params"].tolist() == [True, False, False] and not t["has_transl"][0]
    assert t["params"][0, :58].sum() == 58 and t["params"][0, 58:].abs().sum() == 0
    assert t["image"].shape == (3, 64, 64)


def test_empty_image_gives_zeros():
    t = build_targets(_sample([]), input_size=64, max_hands=4)
    assert t["hm"].abs().sum() == 0 and t["handmap"].abs().sum() == 0
    assert not t["valid"].any() and t["ind"].abs().sum() == 0
    with pytest.raises(ValueError, match="expected 32x32"):
        build_targets(_sample([]), input_size=32)


def test_out_of_map_and_max_hands_and_instance_mask():
    mask = np.zeros((64, 64), np.uint8)
    mask[0:2] = 1  # hands[0] (outside the map -> dropped)
    mask[10:12] = 2  # hands[1] -> slot 0
    mask[20:22] = 3  # hands[2] -> slot 1
    s = _sample([_hand(RIGHT, (-20, 5)), _hand(RIGHT, (20, 20)), _hand(LEFT, (40, 40)),
                 _hand(LEFT, (50, 10))], mask=mask)
    t = build_targets(s, input_size=64, max_hands=2)
    assert t["valid"].tolist() == [True, True] and t["side"].tolist() == [RIGHT, LEFT]
    assert t["instance_mask"][0, 0] == 0 and t["instance_mask"][10, 0] == 1 and t["instance_mask"][20, 0] == 2
    assert t["mask"][0, 0] == 1.0 and bool(t["has_mask"])


def test_border_cut_hand_is_centred_on_what_is_in_the_picture_and_unslotted_hands_are_ignored():
    cut = _hand(RIGHT, (4, 30), spread=10.0)  # about half its keypoints lie left of x = -0.5
    inside = cut.keypoints2d[:, 0] >= -0.5
    assert 3 < inside.sum() < 18
    beyond_slots = _hand(LEFT, (48, 48))
    t = build_targets(_sample([cut, _hand(LEFT, (30, 12)), beyond_slots]), input_size=64, max_hands=2)
    want = cut.keypoints2d[inside].mean(0)
    assert torch.allclose(t["center"][0], torch.from_numpy(want), atol=1e-5)
    assert t["center"][0, 0].item() > cut.keypoints2d[:, 0].mean() + 2  # not the mean of all 21
    assert bool(t["visibility"][0].all())  # the fingers beyond the frame still supervise the reprojection
    # the third hand gets no slot: its cells carry no Gaussian and are ignored, not trained as background
    assert float(t["hm"][0, 12, 12]) == 0.0 and float(t["hm_weight"][0, 12, 12]) == 0.0
    assert float(t["hm_weight"][0, 1, 1]) == 1.0
    # a hand whose visible keypoints are all outside the image: no slot, and not a box centre either
    gone = _hand(RIGHT, (-20, 30))
    t = build_targets(_sample([gone]), input_size=64, max_hands=2)
    assert not bool(t["valid"].any())


def test_side_known_is_read_per_hand():
    s = _sample([_hand(RIGHT, (20, 20)), _hand(LEFT, (40, 40))])
    s.meta["side_known"] = [False, True]  # as CocoHands writes it
    assert build_targets(s, input_size=64)["side_known"][:2].tolist() == [False, True]
    s.meta["side_known"] = False
    assert build_targets(s, input_size=64)["side_known"][:2].tolist() == [False, False]


def test_a_hand_of_unknown_side_trains_the_centre_but_neither_side_of_the_handedness_map():
    s = _sample([_hand(RIGHT, (20, 20)), _hand(LEFT, (44, 44))])
    s.meta["side_known"] = [False, True]
    t = build_targets(s, input_size=64)
    assert float(t["hm"][0, 5, 5]) == 1.0 and float(t["hm_weight"][0, 5, 5]) == 1.0  # found as a hand
    assert float(t["handmap"][:, 5, 5].max()) == 0.0  # not drawn as a right hand (nor a left one)
    assert float(t["handmap_weight"][0, 5, 5]) == 0.0  # and its cells teach neither channel "no hand"
    assert float(t["handmap"][LEFT, 11, 11]) == 1.0 and float(t["handmap_weight"][0, 11, 11]) == 1.0
    assert float(t["handmap_weight"][0, 0, 15]) == 1.0  # background elsewhere still trains
    s.meta["side_known"] = True  # the same hands, both sides known: the old targets
    t = build_targets(s, input_size=64)
    assert float(t["handmap"][RIGHT, 5, 5]) == 1.0 and bool((t["handmap_weight"] == t["hm_weight"]).all())


def test_an_untaught_side_decodes_the_geometry_but_trains_neither_side_loss():
    s = _sample([_hand(RIGHT, (20, 20)), _hand(LEFT, (44, 44))])
    taught = build_targets(s, input_size=64)
    t = build_targets(s, input_size=64, side_taught=False)
    assert taught["side_taught"][:2].tolist() == [True, True]
    assert t["side_known"][:2].tolist() == [True, True]  # the labels still pick each hand's model
    assert t["side_taught"][:2].tolist() == [False, False] and t["side"][:2].tolist() == [RIGHT, LEFT]
    assert float(t["hm"][0, 5, 5]) == 1.0 and float(t["hm"][0, 11, 11]) == 1.0  # found as hands
    assert float(t["handmap"].max()) == 0.0  # neither hand drawn in the handedness map,
    assert float(t["handmap_weight"][0, 5, 5]) == 0.0 and float(t["handmap_weight"][0, 11, 11]) == 0.0
    assert float(t["handmap_weight"][0, 0, 15]) == 1.0  # while the background still trains it
    s.meta["side_known"] = [False, True]  # an unknown side is never taught either
    assert build_targets(s, input_size=64)["side_taught"][:2].tolist() == [False, True]


def test_collate_pads_and_masks():
    samples = [_sample([]), _sample([_hand(RIGHT, (10, 10)), _hand(LEFT, (30, 30), joints=True)]),
               _sample([_hand(LEFT, (5, 5))])]
    b = collate_samples(samples)
    assert b["valid"].tolist() == [[False, False], [True, True], [True, False]]
    assert b["side"].tolist() == [[0, 0], [RIGHT, LEFT], [LEFT, 0]]
    assert b["has_joints3d"].tolist() == [[False, False], [False, True], [False, False]]
    assert b["keypoints2d"][0].abs().sum() == 0 and b["keypoints2d"][2, 1].abs().sum() == 0
    np.testing.assert_allclose(b["keypoints2d"][1, 1].mean(0).numpy(), [30, 30], atol=1e-4)
    assert b["images"].shape == (3, 64, 64, 3) and b["K"].shape == (3, 3, 3)
    b1 = collate_samples(samples, max_hands=1)
    assert b1["valid"].tolist() == [[False], [True], [True]]


def test_collate_carries_each_hands_camera():
    composite = _sample([_hand(RIGHT, (10, 10)), _hand(LEFT, (30, 30))])
    composite.K = None
    composite.hands[0].K = np.diag([200.0, 220.0, 1.0])  # hands[1]: a 2D-only source, no camera
    plain = _sample([_hand(LEFT, (5, 5))])
    plain.K = np.diag([300.0, 300.0, 1.0])
    b = collate_samples([composite, plain])
    assert b["has_K_hand"].tolist() == [[True, False], [True, False]] and b["has_K"].tolist() == [False, True]
    assert b["K_hand"][0, 0, 1, 1] == 220.0 and b["K_hand"][1, 0, 0, 0] == 300.0


def test_focal_per_slot_from_each_hands_camera():
    s = _sample([_hand(RIGHT, (30.5, 10.2)), _hand(LEFT, (9.0, 50.0))])
    s.K = np.array([[300.0, 0, 32], [0, 310.0, 32], [0, 0, 1]], np.float32)
    t = build_targets(s, input_size=64, max_hands=3)
    assert t["focal"].tolist() == [305.0, 305.0, 0.0] and t["has_focal"].tolist() == [True, True, False]
    s.hands[1].K = np.diag([400.0, 400.0, 1.0])  # a hand's own camera wins over the sample's
    t = build_targets(s, input_size=64, max_hands=3)
    assert t["focal"].tolist() == [305.0, 400.0, 0.0] and t["has_focal"].tolist() == [True, True, False]
    s.K = None  # a composite: each hand has its own camera, or none (a 2D-only source)
    s.hands[0].K = np.diag([200.0, 220.0, 1.0])
    t = build_targets(s, input_size=64, max_hands=3)
    assert t["focal"].tolist() == [210.0, 400.0, 0.0] and t["has_focal"].tolist() == [True, True, False]
    s.hands[1].K = None
    t = build_targets(s, input_size=64, max_hands=3)
    assert t["focal"].tolist() == [210.0, 0.0, 0.0] and t["has_focal"].tolist() == [True, False, False]
    s.hands[0].K = None
    assert not build_targets(s, input_size=64, max_hands=3)["has_focal"].any()
