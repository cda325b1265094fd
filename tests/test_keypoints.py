"""Keypoint layouts: exact index maps pinned against the datasets' documented joint lists."""

import numpy as np
import pytest
import torch

from smhr.hands import keypoints as kp

FINGERS = ("thumb", "index", "middle", "ring", "little")

# FreiHAND: wrist, then per finger MCP..tip (thumb CMC is called mcp, as FreiHAND does)
FREIHAND = ["wrist"] + [f"{f}_{p}" for f in FINGERS for p in ("mcp", "pip", "dip", "tip")]
# MANO native 16 (wrist; index, middle, little, ring, thumb x 3) + tips thumb, index, middle, ring, little
MANO21 = (
    ["wrist"]
    + [f"{f}_{p}" for f in ("index", "middle", "little", "ring", "thumb") for p in ("mcp", "pip", "dip")]
    + [f"{f}_tip" for f in FINGERS]
)
# RHD README / view_samples.py: "0: wrist, 1-4: thumb [tip to palm], 5-8: index, ..., 17-20: pinky"
RHD = ["wrist"] + [f"{f}_{p}" for f in FINGERS for p in ("tip", "dip", "pip", "mcp")]
# InterHand2.6M skeleton: thumb4(tip)..thumb1, index4..1, middle, ring, pinky, wrist (20)
INTERHAND = [f"{f}_{p}" for f in FINGERS for p in ("tip", "dip", "pip", "mcp")] + ["wrist"]


def test_names_and_bones():
    assert list(kp.FREIHAND_NAMES) == FREIHAND
    assert kp.BONES[:4] == ((0, 1), (1, 2), (2, 3), (3, 4))
    assert kp.BONES[4:8] == ((0, 5), (5, 6), (6, 7), (7, 8))
    assert kp.BONES[16:] == ((0, 17), (17, 18), (18, 19), (19, 20))
    assert len(kp.BONES) == 20 and len(set(kp.BONES)) == 20
    assert [kp.FREIHAND_NAMES[i] for i in kp.TIP_INDICES] == [f"{f}_tip" for f in FINGERS]
    assert kp.FREIHAND_NAMES[kp.ROOT_INDEX] == "middle_mcp"
    assert kp.MANO_PARENTS == (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14)
    assert list(kp.MANO_JOINT_NAMES) == MANO21[:16]


@pytest.mark.parametrize(
    ("table", "names"),
    [("MANO21_TO_FREIHAND", MANO21), ("RHD_TO_FREIHAND", RHD), ("INTERHAND_TO_FREIHAND", INTERHAND)],
)
def test_index_maps_match_documented_names(table, names):
    idx = getattr(kp, table)
    assert [names[i] for i in idx] == FREIHAND
    assert sorted(idx.tolist()) == list(range(21))


def test_exact_maps():
    assert kp.MANO21_TO_FREIHAND.tolist() == [
        0,
        13,
        14,
        15,
        16,
        1,
        2,
        3,
        17,
        4,
        5,
        6,
        18,
        10,
        11,
        12,
        19,
        7,
        8,
        9,
        20,
    ]
    assert kp.RHD_TO_FREIHAND.tolist() == [
        0,
        4,
        3,
        2,
        1,
        8,
        7,
        6,
        5,
        12,
        11,
        10,
        9,
        16,
        15,
        14,
        13,
        20,
        19,
        18,
        17,
    ]
    assert kp.INTERHAND_TO_FREIHAND.tolist() == [
        20, 3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12, 19, 18, 17, 16,
    ]  # fmt: skip


@pytest.mark.parametrize("src", kp.LAYOUTS)
@pytest.mark.parametrize("dst", kp.LAYOUTS)
def test_reorder_moves_names(src, dst):
    names = {"freihand": FREIHAND, "mano": MANO21, "rhd": RHD, "interhand": INTERHAND}
    ids = np.array([[FREIHAND.index(n)] for n in names[src]], dtype=np.float64)  # [21,1]
    out = kp.reorder(ids, src, dst)
    assert [FREIHAND[int(i)] for i in out[:, 0]] == names[dst]
    t = torch.arange(2 * 21 * 3, dtype=torch.float32).view(2, 21, 3)
    back = kp.reorder(kp.reorder(t, src, dst), dst, src)
    assert torch.equal(back, t)


def test_reorder_errors():
    with pytest.raises(ValueError, match=r"\[\.\.\., 21, C\]"):
        kp.reorder(np.zeros((20, 3)), "rhd", "freihand")
    with pytest.raises(ValueError, match="unknown keypoint layout 'coco'"):
        kp.reorder(np.zeros((21, 3)), "coco", "freihand")


def test_mano21_to_freihand():
    x = torch.arange(21.0)[:, None].expand(21, 2)
    assert kp.mano21_to_freihand(x)[:, 0].tolist() == kp.MANO21_TO_FREIHAND.astype(float).tolist()


def test_hand_checked_joints_of_each_dataset_layout():
    """Single joints looked up by hand in each dataset's own documentation (not through our names)."""
    fh = {name: i for i, name in enumerate(kp.FREIHAND_NAMES)}
    # RHD README: 0 wrist, 1-4 thumb tip..MCP, 5-8 index tip..MCP, ..., 17-20 pinky tip..MCP
    assert kp.RHD_TO_FREIHAND[fh["wrist"]] == 0
    assert kp.RHD_TO_FREIHAND[fh["thumb_tip"]] == 1 and kp.RHD_TO_FREIHAND[fh["thumb_mcp"]] == 4
    assert kp.RHD_TO_FREIHAND[fh["index_tip"]] == 5 and kp.RHD_TO_FREIHAND[fh["little_mcp"]] == 20
    # InterHand2.6M skeleton.txt: thumb4 (tip) 0 .. thumb1 3, index4 4, ..., pinky1 19, wrist 20
    assert kp.INTERHAND_TO_FREIHAND[fh["wrist"]] == 20 and kp.INTERHAND_TO_FREIHAND[fh["thumb_tip"]] == 0
    assert kp.INTERHAND_TO_FREIHAND[fh["middle_mcp"]] == 11
    assert kp.INTERHAND_TO_FREIHAND[fh["little_tip"]] == 16
    # MANO: 16 native joints (thumb CMC = 13), tips appended as thumb 16 .. little 20
    assert kp.MANO21_TO_FREIHAND[fh["thumb_mcp"]] == 13 and kp.MANO21_TO_FREIHAND[fh["little_tip"]] == 20
    assert kp.MANO21_TO_FREIHAND[fh["ring_mcp"]] == 10 and kp.MANO21_TO_FREIHAND[fh["little_mcp"]] == 7


def test_side_ids_and_part_codes():
    assert (kp.LEFT, kp.RIGHT) == (0, 1)
    assert kp.SIDE_NAMES[kp.LEFT] == "left" and kp.SIDE_NAMES[kp.RIGHT] == "right"
    # part_labels codes: 0 palm, 1 thumb .. 5 little, then nails
    assert kp.FINGER_OF_KEYPOINT[kp.FREIHAND_NAMES.index("ring_tip")] == 4
    assert kp.NAIL_PART == 6 and kp.NAIL_PART not in set(kp.FINGER_OF_KEYPOINT) | set(kp.MANO_FINGER_OF_JOINT)


def test_palm_faces_camera_reads_the_face_from_the_side_and_the_palm_triangle_s_turn():
    from smhr.hands.keypoints import palm_faces_camera

    kp = np.zeros((21, 2))
    kp[0], kp[5], kp[17] = (50, 100), (40, 60), (70, 60)  # fingers up, index MCP left of little MCP
    # a right hand with its thumb side on the left, fingers up, is seen from the back; a left one
    # from the palm
    assert not palm_faces_camera(kp, 1) and palm_faces_camera(kp, 0)
    mirrored = kp.copy()
    mirrored[:, 0] = 99 - kp[:, 0]
    assert palm_faces_camera(mirrored, 0) == palm_faces_camera(kp, 1)  # mirroring swaps the side too
    turn = np.array([[0.0, -1.0], [1.0, 0.0]])
    assert not palm_faces_camera(kp @ turn.T, 1)  # a turn in the image changes nothing
    both = palm_faces_camera(np.stack([kp, mirrored]), np.array([1, 1]))
    assert both.tolist() == [False, True]
