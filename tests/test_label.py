"""`smhr label` and the labelled-set format: teacher labels, provenance, held-out split and ignore
regions written and read back; matching of teacher hands to a source's boxes."""

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from smhr.cli import app
from smhr.data.labelled import LabelledSet, read_meta, read_records
from smhr.label.boxes import read_boxes, yolo_label_path
from smhr.label.match import match_boxes
from smhr.label.writer import group_of, split_of

FIXTURES = Path(__file__).parent / "fixtures" / "teacher"


def test_box_readers_voc_yolo_and_obb(tmp_path):
    img = tmp_path / "images" / "a.jpg"
    img.parent.mkdir()
    img.write_bytes(b"")
    (tmp_path / "images" / "a.xml").write_text(
        "<annotation><object><bndbox><xmin>10</xmin><ymin>20</ymin><xmax>30</xmax><ymax>60</ymax></bndbox>"
        "</object><object><bndbox><xmin>-5</xmin><ymin>0</ymin><xmax>400</xmax><ymax>9</ymax></bndbox></object>"
        "</annotation>"
    )
    np.testing.assert_allclose(read_boxes("voc", img, (200, 100)), [[10, 20, 30, 60], [0, 0, 200, 9]])
    lab = yolo_label_path(img)
    assert lab == tmp_path / "labels" / "a.txt"
    lab.parent.mkdir()
    lab.write_text("0 0.5 0.5 0.2 0.4\n")
    np.testing.assert_allclose(read_boxes("yolo", img, (200, 100)), [[80, 30, 120, 70]])
    lab.write_text("0 0.1 0.1 0.3 0.1 0.3 0.5 0.1 0.5\n")
    np.testing.assert_allclose(read_boxes("yolo-obb", img, (200, 100)), [[20, 10, 60, 50]])
    assert read_boxes("none", img, (200, 100)) is None
    assert read_boxes("voc", tmp_path / "images" / "b.jpg", (200, 100)) is None
    with pytest.raises(ValueError, match="--boxes"):
        read_boxes("coco", img, (1, 1))


def test_boxes_match_one_to_one_and_tolerate_loose_source_boxes():
    teacher = np.array([[100, 100, 150, 160], [300, 50, 340, 120]], np.float32)
    source = np.array(
        [
            [90, 90, 170, 240],  # loose box with the forearm: matches hand 0
            [500, 500, 560, 560],  # nothing there: missed
            [295, 45, 345, 125],
        ],
        np.float32,
    )
    assert sorted(match_boxes(teacher, source)) == [(0, 0), (1, 2)]
    assert match_boxes(teacher, np.zeros((0, 4))) == []
    huge = np.array([[0, 0, 2000, 2000]], np.float32)  # covers everything but shares almost nothing
    assert match_boxes(teacher, huge) == []


def test_groups_and_split_are_fixed_by_name_and_seed():
    assert group_of("images/2_pic00038.jpg", r"^images/(.*)_pic0*(\d+)\.jpg$", 25) == "2/1"
    assert group_of("images/2_pic00049.jpg", r"^images/(.*)_pic0*(\d+)\.jpg$", 25) == "2/1"
    assert group_of("t/images/ab_jpg.rf.0f3a.jpg", r"/([^/]*)\.rf\.[0-9a-f]+\.jpg$") == "ab_jpg"
    assert group_of("x/y.jpg", None) == "x/y.jpg"
    splits = [split_of(f"g{i}", 0, 0.2) for i in range(2000)]
    assert 0.17 < splits.count("test") / 2000 < 0.23
    assert splits == [split_of(f"g{i}", 0, 0.2) for i in range(2000)]
    assert splits != [split_of(f"g{i}", 1, 0.2) for i in range(2000)]


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    pytest.importorskip("onnxruntime")  # the `label` extra's runtime
    root = tmp_path_factory.mktemp("src")
    img_dir = root / "images"
    img_dir.mkdir()
    for name in ("two_hands.jpg", "left_hand.jpg", "right_hand.jpg"):
        shutil.copy(FIXTURES / name, img_dir / name)
    shutil.copy(FIXTURES / "left_hand.jpg", img_dir / "z_copy_of_left.jpg")  # exact duplicate
    (img_dir / "broken.jpg").write_bytes(b"not a jpeg")
    # a VOC box on the right hand (found by the teacher) and one in an empty corner (missed -> ignore)
    (img_dir / "right_hand.xml").write_text(
        "<annotation><object><bndbox><xmin>45</xmin><ymin>40</ymin><xmax>125</xmax><ymax>215</ymax></bndbox>"
        "</object><object><bndbox><xmin>0</xmin><ymin>180</ymin><xmax>40</xmax><ymax>239</ymax></bndbox>"
        "</object></annotation>"
    )
    out = root / "labels"
    res = CliRunner().invoke(
        app,
        [
            "label",
            str(img_dir),
            "--out",
            str(out),
            "--name",
            "fixture",
            "--root",
            str(root),
            "--repo",
            "owner/name",
            "--commit",
            "abc",
            "--licence",
            "Apache-2.0",
            "--boxes",
            "voc",
            "--test-fraction",
            "0.5",
        ],
    )
    return root, out, res


def test_label_writes_teacher_labels_with_provenance(labelled):
    _, out, res = labelled
    assert res.exit_code == 1, res.output  # one unreadable file: reported, counted, the rest labelled
    assert "broken.jpg" in res.output
    meta = read_meta(out)
    assert meta["source"] == {
        "name": "fixture",
        "repo": "owner/name",
        "commit": "abc",
        "licence": "Apache-2.0",
        "url": "",
    }
    c = meta["counts"]
    assert (c["files"], c["bad_files"], c["duplicates"], c["images"]) == (5, 1, 1, 3)
    assert (c["teacher_hands"], c["source_boxes"], c["matched_boxes"], c["missed_boxes"]) == (4, 2, 1, 1)
    assert c["images_without_box_file"] == 2
    recs = {r["path"]: r for r in read_records(out)}
    assert set(recs) == {"images/two_hands.jpg", "images/left_hand.jpg", "images/right_hand.jpg"}
    r = recs["images/right_hand.jpg"]
    assert r["ignore"] == [[0.0, 180.0, 40.0, 239.0]] and r["hands"][0]["source_box"] == 0
    assert [h["side"] for h in r["hands"]] == [1] and [
        h["side"] for h in recs["images/left_hand.jpg"]["hands"]
    ] == [0]
    assert all(
        len(h["keypoints2d"]) == 21 and len(h["world"]) == 21 for rr in recs.values() for h in rr["hands"]
    )
    assert len(r["sha256"]) == 64 and {rr["split"] for rr in recs.values()} <= {"train", "test"}
    # the default teacher is v2; the label file records it with the sha256 of each model it ran
    assert meta["teacher"]["version"] == "v2"
    assert sorted(meta["teacher"]["models"]) == sorted(
        [
            "palm_detection_full.onnx",
            "hand_landmark_full.onnx",
            "pose_detection.onnx",
            "pose_landmark_full.onnx",
            "hand_recrop.onnx",
        ]
    )
    assert {h["origin"] for rr in recs.values() for h in rr["hands"]} <= {"palm", "tile", "pose"}


def test_label_with_teacher_v1_records_v1(tmp_path):
    pytest.importorskip("onnxruntime")
    img_dir = tmp_path / "images"
    img_dir.mkdir()
    shutil.copy(FIXTURES / "two_hands.jpg", img_dir / "two_hands.jpg")
    out = tmp_path / "labels"
    args = ["label", str(img_dir), "--out", str(out), "--name", "t", "--teacher", "v1"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    meta = read_meta(out)
    assert meta["teacher"]["version"] == "v1" and len(meta["teacher"]["models"]) == 2
    (rec,) = read_records(out)
    assert [h["origin"] for h in rec["hands"]] == ["palm", "palm"]
    bad = CliRunner().invoke(app, [*args[:-1], "v9"])
    assert bad.exit_code == 2 and "--teacher 'v9'" in bad.output and "v1, v2" in bad.output


def test_labelled_set_reads_back_the_records(labelled):
    root, out, _ = labelled
    recs = {r["path"]: r for r in read_records(out)}
    ds = LabelledSet(out, "all")
    assert len(ds) == 3 and ds.image_root == root.resolve()
    s = next(ds[i] for i in range(3) if ds[i].id == "images/right_hand.jpg")
    np.testing.assert_allclose(s.hands[0].keypoints2d, recs[s.id]["hands"][0]["keypoints2d"], atol=1e-4)
    np.testing.assert_allclose(s.ignore, [[0, 180, 40, 239]])
    assert s.image.shape == (240, 320, 3) and s.K is None
    small = LabelledSet(out, "all", max_side=160, preload=True)
    t = next(small[i] for i in range(3) if small[i].id == s.id)
    assert t.image.shape == (120, 160, 3)
    np.testing.assert_allclose(t.hands[0].keypoints2d, (s.hands[0].keypoints2d + 0.5) * 0.5 - 0.5, atol=1e-4)
    np.testing.assert_allclose(t.ignore, s.ignore * 0.5)
    n_train, n_test = len(LabelledSet(out, "train")), len(LabelledSet(out, "test"))
    assert n_train + n_test == 3


def test_label_reads_a_registered_dataset(tmp_path):
    """`--dataset KIND`: the images come from the same loader registry that training and
    evaluation use (each file once, in the loader's order)."""
    pytest.importorskip("onnxruntime")
    from smhr.data.testing import write_skeleton_freihand
    from smhr.hands.model import HandModel

    root = write_skeleton_freihand(tmp_path / "frei", HandModel.load("anny", "right"), n_train=2, n_eval=3)
    shutil.copy(FIXTURES / "right_hand.jpg", root / "evaluation" / "rgb" / "00000001.jpg")  # a real hand
    out = tmp_path / "labels"
    args = ["label", str(root), "--out", str(out), "--name", "frei"]
    args += ["--dataset", "freihand", "--split", "eval"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    recs = list(read_records(out))
    assert read_meta(out)["counts"]["files"] == 3
    assert sorted(r["path"] for r in recs) == [f"evaluation/rgb/{i:08d}.jpg" for i in range(3)]
    real = [r for r in recs if r["path"] == "evaluation/rgb/00000001.jpg"]
    assert len(real) == 1 and [h["side"] for h in real[0]["hands"]] == [1]

    bad = CliRunner().invoke(app, [*args[:6], "--dataset", "nosuch"])
    assert bad.exit_code == 2 and "--dataset 'nosuch'" in bad.output and "freihand" in bad.output


def test_every_registered_loader_names_its_image_files():
    """A loader added to the registry without `image_path` could not be labelled."""
    from smhr.data.registry import DATASETS, openable
    from smhr.data.sample import SampleDataset

    assert len(openable()) >= 7
    for name in openable():
        cls = DATASETS[name].loader_class()
        assert cls.image_path is not SampleDataset.image_path, name


def test_role_is_recorded_and_kept_when_relabelling(tmp_path):
    pytest.importorskip("onnxruntime")
    img = tmp_path / "src" / "left_hand.jpg"
    img.parent.mkdir()
    shutil.copy(FIXTURES / "left_hand.jpg", img)
    out = tmp_path / "labels"
    base = ["label", str(img), "--out", str(out), "--name", "x", "--root", str(img.parent)]
    res = CliRunner().invoke(app, [*base, "--role", "holdout"])
    assert res.exit_code != 0 and "--role 'holdout'" in res.output
    assert CliRunner().invoke(app, [*base, "--role", "test"]).exit_code == 0
    assert read_meta(out)["role"] == "test"
    assert CliRunner().invoke(app, base).exit_code == 0  # relabelled without --role: still test only
    assert read_meta(out)["role"] == "test"


def test_hand_in_every_photo_ignores_a_photo_whose_hand_the_teacher_missed(tmp_path):
    """A source whose every photo shows a hand: a photo where the teacher finds none holds an
    unlabelled hand, so it is ignored whole (a detection there is neither true nor false); a photo
    with a teacher hand is labelled as usual, with no ignore region."""
    pytest.importorskip("onnxruntime")
    img_dir = tmp_path / "images"
    img_dir.mkdir()
    shutil.copy(FIXTURES / "right_hand.jpg", img_dir / "right_hand.jpg")
    Image.new("RGB", (96, 64), (120, 110, 100)).save(img_dir / "no_teacher_hand.jpg")
    out = tmp_path / "labels"
    args = ["label", str(img_dir), "--out", str(out), "--name", "t", "--teacher", "v1"]
    res = CliRunner().invoke(app, [*args, "--hand-in-every-photo"])
    assert res.exit_code == 0, res.output
    recs = {r["path"]: r for r in read_records(out)}
    assert recs["no_teacher_hand.jpg"]["hands"] == []
    assert recs["no_teacher_hand.jpg"]["ignore"] == [[0.0, 0.0, 96.0, 64.0]]
    assert len(recs["right_hand.jpg"]["hands"]) == 1 and recs["right_hand.jpg"]["ignore"] == []
    meta = read_meta(out)
    assert meta["hand_in_every_photo"] is True and meta["counts"]["photos_ignored_whole"] == 1
    plain = tmp_path / "plain"
    res = CliRunner().invoke(app, [*args[:3], str(plain), *args[4:]])
    assert res.exit_code == 0, res.output
    assert all(r["ignore"] == [] for r in read_records(plain))
    assert "hand_in_every_photo" not in read_meta(plain)
