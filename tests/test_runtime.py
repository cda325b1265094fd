"""The torch-free runtime: NumPy hand models equal the PyTorch layer, the painter covers what the
rasterizer covers, the shipped ONNX export answers like the shipped model.pt, and the inference
path (API, runtime, overlays, exports, CLI help) never imports PyTorch."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from smhr.geometry.letterbox import letterbox_affine, letterbox_image, shrink_area
from smhr.hands.model import HandModel
from smhr.hands.numpy_model import NumpyHandModel
from smhr.render.painter import paint_hands
from smhr.render.renderer import render_hard

SAMPLES = Path(__file__).parents[1] / "src" / "smhr" / "assets" / "samples"


def test_numpy_hand_model_equals_the_pytorch_layer(mano_dir):
    rng = np.random.default_rng(0)
    args = [rng.normal(0, s, (5, n)) for s, n in ((1.0, 3), (0.4, 45), (1.0, 10), (0.2, 3))]
    for kind, path in (("anny", None), ("mano", mano_dir)):
        for side in ("left", "right"):
            ref = HandModel.load(kind, side, path)(*[torch.tensor(a, dtype=torch.float32) for a in args])
            v, j = NumpyHandModel.load(kind, side, path)(*args)
            np.testing.assert_allclose(v, ref.vertices.numpy(), atol=1e-6)
            np.testing.assert_allclose(j, ref.joints.numpy(), atol=1e-6)
    v0, _ = NumpyHandModel.load("anny", "right")(np.zeros((1, 3)), np.zeros((1, 45)))
    np.testing.assert_allclose(v0[0], NumpyHandModel.load("anny", "right").v_template, atol=1e-7)


def test_letterbox_maps_pixel_centres_and_pads_evenly():
    img = np.zeros((100, 200, 3), np.uint8)
    img[:, 100:] = 255
    out, A = letterbox_image(img, 64)
    assert out.shape == (64, 64, 3) and A.shape == (3, 3)
    assert out[:16].max() == 0 and out[48:].max() == 0  # 16 px of padding above and below
    np.testing.assert_allclose(A @ [-0.5, -0.5, 1.0], [-0.5, 15.5, 1.0])  # image corner -> content corner
    np.testing.assert_allclose(A @ [199.5, 99.5, 1.0], [63.5, 47.5, 1.0])
    A2, size, pad = letterbox_affine((100, 200), 64)
    np.testing.assert_array_equal(A, A2)
    assert size == (64, 32) and pad == (0, 16)


def test_shrink_area_halves_exactly_then_matches_one_area_resize():
    """The 2x2 halvings keep the pixel-centre geometry (a blob's centroid lands where the affine
    maps it) and stay within rounding of OpenCV's single area resize; odd sides take the direct
    path, whose result is the area resize itself."""
    import cv2

    rng = np.random.default_rng(3)
    img = cv2.GaussianBlur(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8), (0, 0), 3)
    img[200:232, 300:364] = 255  # a bright block
    small = shrink_area(img, (256, 192))
    ref = cv2.resize(img, (256, 192), interpolation=cv2.INTER_AREA)
    diff = np.abs(small.astype(int) - ref)
    assert small.shape == ref.shape and diff.mean() < 0.5 and diff.max() <= 24
    A, _, _ = letterbox_affine((480, 640), 256)
    ys, xs = np.nonzero(small[..., 0] == 255)
    expect = A @ [331.5, 215.5, 1.0]  # the block's centre in original pixels
    np.testing.assert_allclose([xs.mean(), ys.mean()], expect[:2] - [0, 32], atol=0.5)  # 32 px top padding
    odd = img[:479]
    direct = cv2.resize(odd, (256, 192), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(shrink_area(odd, (256, 192)), direct)
    assert shrink_area(img[:, :512], (256, 240)).shape == (240, 256, 3)  # one halving lands on the target


def test_painter_covers_the_pixels_the_rasterizer_covers():
    m = NumpyHandModel.load("anny", "right")
    rng = np.random.default_rng(1)
    verts = [m(rng.normal(0, 1, (1, 3)), rng.normal(0, 0.3, (1, 45)), None, np.array([[x, 0.0, 0.5]]))[0][0]
             for x in (-0.08, 0.06)]
    K = np.array([[300.0, 0, 96], [0, 300, 96], [0, 0, 1]])
    rgb, cover = paint_hands(verts, [m.faces, m.faces], K, (192, 192), [(255, 160, 70), (90, 150, 255)])
    faces = torch.as_tensor(m.faces)[None, None].expand(1, 2, -1, -1)
    ref = render_hard(torch.tensor(np.stack(verts))[None], faces, torch.tensor(K, dtype=torch.float32)[None],
                      (192, 192))
    ref_cover = ref.mask[0, 0].numpy() > 0
    assert ref_cover.sum() > 500
    iou = (cover & ref_cover).sum() / (cover | ref_cover).sum()
    assert iou > 0.94  # filled polygons also take the pixels their edges cross: a one-pixel rim
    assert (cover & ref_cover).sum() >= 0.99 * ref_cover.sum()
    assert rgb[cover].max() > 200 and rgb[~cover].max() == 0


def test_shipped_onnx_answers_like_the_shipped_model_pt():
    pytest.importorskip("onnxruntime")
    from smhr.app.api import Reconstructor, bundled_weights

    assert bundled_weights(onnx=True).is_file()
    runtime = Reconstructor.from_pretrained()
    torch_rec = Reconstructor.from_pretrained(device="cpu", backend="torch")
    assert runtime.backend == "onnxruntime" and torch_rec.backend == "torch"
    assert runtime.threshold == torch_rec.threshold and runtime.input_size == torch_rec.input_size
    for name in ("multi_1.jpg", "single_2.jpg"):
        a, b = runtime.predict(SAMPLES / name), torch_rec.predict(SAMPLES / name)
        assert len(a) == len(b) > 0
        for x, y in zip(a, b, strict=True):
            assert x.side == y.side and abs(x.score - y.score) < 1e-3
            np.testing.assert_allclose(x.keypoints2d, y.keypoints2d, atol=0.05)
            np.testing.assert_allclose(x.vertices, y.vertices, atol=1e-4)
            assert x.albedo.shape == (1609, 3) and x.sh.shape == (27,)  # the appearance heads, both backends
            np.testing.assert_allclose(x.albedo, y.albedo, atol=1e-4)
            np.testing.assert_allclose(x.sh, y.sh, atol=1e-4)
    boxed = np.zeros((1, 256, 256, 3), np.uint8)  # a threshold no peak reaches: every output empty
    assert runtime.network.run(boxed, 2.0)["texture"].shape == (1, 0, 3 * 1609)


def test_inference_path_and_cli_help_do_not_import_torch():
    code = (
        "import sys\n"
        "import smhr.app.api, smhr.runtime.reconstructor, smhr.render.overlay, smhr.io.exports, smhr.cli\n"
        "import smhr.render.textured, smhr.io.appearance\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
