"""The public input checks of `Reconstructor` and the command line: inputs that used to give NaN, wrong
or zero hands, or a library's traceback, now give the right hands or one line naming the argument."""

import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import smhr
from smhr.app.api import BadInput, Reconstructor, to_rgb_uint8
from smhr.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def rec():
    return Reconstructor.from_pretrained(threshold=0.0, max_hands=2)  # bundled weights, onnxruntime


def _image(h=48, w=64, seed=0):
    return np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)


def test_a_16_bit_pil_image_gives_the_hands_of_its_8_bit_twin(rec):
    from PIL import Image

    img = _image()
    grey8 = img[..., 1]
    pil16 = Image.fromarray(grey8.astype(np.uint16) * 257)  # mode I;16, 0-65535
    assert pil16.mode == "I;16"
    np.testing.assert_array_equal(to_rgb_uint8(pil16), to_rgb_uint8(grey8))
    a, b = rec.predict(grey8), rec.predict(pil16)
    assert len(a) == len(b) == 2
    np.testing.assert_allclose(a[0].keypoints2d, b[0].keypoints2d, atol=1e-3)


def test_a_uint16_array_of_8_bit_values_is_refused_with_the_fix(rec):
    needle = r"image 0: uint16 image whose values are all <= 255.*astype\(np.uint8\)"
    with pytest.raises(BadInput, match=needle):
        rec.predict(_image().astype(np.uint16))


@pytest.mark.parametrize("focal", [0.0, float("nan"), -5.0, float("inf")])
def test_a_focal_that_is_not_a_positive_number_is_refused(rec, focal):
    with pytest.raises(ValueError, match=r"^focal must be a finite focal length in pixels > 0"):
        rec.predict(_image(), focal=focal)


@pytest.mark.parametrize("K, needle", [
    (np.eye(4), r"K of image 0 must be a 3x3 intrinsics matrix .* got shape \(4, 4\)"),
    (np.ones(9), r"got shape \(9,\)"),
    (np.diag([0.0, 100.0, 1.0]), r"fx, fy > 0"),
    (np.array([[100, 0, 32], [0, 100, 24], [0, 0, 2.0]]), r"last row \(0, 0, 1\)"),
])  # fmt: skip
def test_a_wrong_k_is_one_line_naming_k(rec, K, needle):
    with pytest.raises(ValueError, match=needle) as err:
        rec.predict(_image(), K=K)
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="one 3x3 matrix per image: 1 for 2"):
        rec.predict_batch([_image(), _image()], K=[np.eye(3)])


@pytest.mark.parametrize("kwargs, needle", [
    ({"threshold": 2.0}, r"threshold is a detection score in \[0, 1\], got 2.0"),
    ({"threshold": -0.1}, r"threshold is a detection score"),
    ({"max_hands": 0}, r"max_hands must be an integer >= 1, got 0"),
    ({"device": "gpu"}, r"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got 'gpu'"),
    ({"device": "cuda:x"}, r"device must be"),
])  # fmt: skip
def test_options_that_would_always_give_nothing_or_a_torch_error_are_refused(kwargs, needle):
    with pytest.raises(ValueError, match=needle) as err:
        Reconstructor.from_pretrained(**kwargs)
    assert len(str(err.value)) < 120  # one short line, not PyTorch's list of device types


def test_a_list_given_to_predict_points_to_predict_batch(rec):
    with pytest.raises(BadInput, match=r"got a list of 2 items, not an image.*predict_batch"):
        rec.predict([_image(), _image()])


@pytest.mark.parametrize("one", ["photo.jpg", Path("photo.jpg"), _image(), _image()[..., 0]],
                         ids=["str", "path", "rgb", "grey"])
def test_one_image_given_to_predict_batch_points_to_predict(rec, one):
    with pytest.raises(TypeError, match=r"predict_batch takes a list of images; for one image use predict"):
        rec.predict_batch(one)
    assert len(rec.predict_batch(np.stack([_image(), _image()]))) == 2  # a [B,H,W,3] stack is a batch


@pytest.mark.parametrize("side", [2, -1, "right", True])
def test_a_forced_side_other_than_left_or_right_is_refused(rec, side):
    with pytest.raises(ValueError, match=r"side must be None \(each hand's own\), 0 \(left\) or 1 \(right\)"):
        rec.predict_batch([_image()], side=side)
    assert {h.side for h in rec.predict_batch([_image()], side=np.int64(0))[0]} == {0}


def test_scores_and_shares_may_be_numpy_scalars_but_not_bools():
    rec = Reconstructor.from_pretrained(threshold=np.float32(0.25), large_side=np.float64(0.5),
                                        large_hand_threshold=np.float32(0.1), min_hand_side=np.float16(0.1))
    assert rec.threshold == pytest.approx(0.25) and rec.large_side == 0.5
    for kwargs in ({"threshold": True}, {"large_side": True}, {"min_hand_side": np.bool_(True)}):
        with pytest.raises(ValueError, match=r"got (True|np.True_)$"):
            Reconstructor.from_pretrained(**kwargs)


def test_a_predictor_built_around_a_backend_checks_threshold_and_max_hands(rec):
    for kwargs, needle in (({"max_hands": -1}, "max_hands must be an integer >= 1, got -1"),
                           ({"threshold": 5.0}, r"threshold is a detection score in \[0, 1\], got 5.0")):
        with pytest.raises(ValueError, match=needle):
            Reconstructor(rec.network, rec.hand_models, **kwargs)


def test_focal_and_k_together_are_refused(rec):
    with pytest.raises(ValueError, match=r"^give focal or K, not both"):
        rec.predict(_image(), focal=500.0, K=np.array([[500.0, 0, 32], [0, 500, 24], [0, 0, 1]]))


@pytest.mark.parametrize("backend, weights", [("auto", "model.onnx"), ("onnxruntime", None)])
def test_cuda_with_the_onnxruntime_backend_is_refused_not_run_on_the_cpu(backend, weights):
    from smhr.runtime.loading import choose_backend

    path = None if weights is None else Path(weights)
    with pytest.raises(ValueError, match=r"device='cuda': .* CPU \(onnxruntime\); for CUDA give a model.pt"):
        choose_backend(backend, path, "cuda", None)
    assert choose_backend(backend, path, "cpu", None) == "onnxruntime"


def test_rgb_order_is_documented_where_images_are_passed():
    for doc in (Reconstructor.predict.__doc__, to_rgb_uint8.__doc__):
        assert "RGB" in doc and "BGR" in doc
    usage = (Path(__file__).parents[1] / "docs" / "usage.md").read_text()
    assert "NumPy images are RGB" in usage


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="a CUDA machine")
def test_device_cuda_on_a_cpu_machine_names_the_option(tmp_path):
    res = runner.invoke(app, ["demo", "--device", "cuda", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    line = res.output.strip()
    assert line.startswith("error: --device cuda:") and "use --device cpu" in line and "\n" not in line
    with pytest.raises(RuntimeError, match=r"device='cuda': PyTorch finds no CUDA device.*device='cpu'"):
        Reconstructor.from_pretrained(device="cuda")


def test_version():
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and res.output.strip() == f"smhr {smhr.__version__}"
