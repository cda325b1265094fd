"""COCO-style hand keypoint sets (`smhr.data.coco_hands`): CMU Panoptic's byte-identical `_l` / `_r`
copies of one frame are one image with both hands; other images stay apart."""

import json

import numpy as np
from PIL import Image

from smhr.data.coco_hands import CocoHands
from smhr.data.sample import LEFT, RIGHT


def _ann(image_id, x):
    kp = np.zeros((21, 3))
    kp[:, 0], kp[:, 1], kp[:, 2] = x + np.arange(21) % 5, 10 + np.arange(21) // 5, 1
    return {"image_id": image_id, "keypoints": kp.ravel().tolist(), "bbox": [x, 10, 5, 5]}


def test_identical_left_and_right_copies_of_a_frame_are_one_image_with_both_hands(tmp_path):
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, (32, 48, 3), np.uint8)
    for name in ("same_l.png", "same_r.png"):
        Image.fromarray(frame).save(tmp_path / name)
    Image.fromarray(frame).save(tmp_path / "diff_l.png")  # same name pattern, different pixels
    Image.fromarray(255 - frame).save(tmp_path / "diff_r.png")
    names = ["same_l.png", "same_r.png", "diff_l.png", "diff_r.png"]
    data = {"images": [{"id": i, "file_name": n, "width": 48, "height": 32} for i, n in enumerate(names)],
            "annotations": [_ann(i, 4 + 10 * i) for i in range(4)]}
    (tmp_path / "set.json").write_text(json.dumps(data))
    ds = CocoHands(tmp_path / "set.json")
    assert len(ds) == 3  # the identical pair merged; the differing pair kept apart
    merged = next(ds[i] for i in range(len(ds)) if ds[i].id == "same_l.png")
    assert [h.side for h in merged.hands] == [LEFT, RIGHT] and merged.meta["side_known"] == [True, True]
    np.testing.assert_allclose([h.keypoints2d[0, 0] for h in merged.hands], [4, 14])  # each its own hand
    apart = [ds[i] for i in range(len(ds)) if ds[i].id.startswith("diff")]
    assert [[h.side for h in s.hands] for s in apart] == [[LEFT], [RIGHT]]
