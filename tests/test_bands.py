"""The network runs only on the 32-aligned band of the letterbox canvas that holds the picture."""

import json
from pathlib import Path

import numpy as np
import pytest

from smhr.geometry.letterbox import content_band, letterbox_affine, network_inputs
from smhr.runtime.calibration import Calibration
from smhr.runtime.reconstructor import Reconstructor, canvas_cells
from smhr.runtime.tiling import photo_views

SAMPLES = Path(__file__).resolve().parents[1] / "src" / "smhr" / "assets" / "samples"


def _band(hw, size=256):
    A = letterbox_affine(hw, size)[0]
    return content_band(A[None], [(0, 0, hw[1], hw[0])], size)


@pytest.mark.parametrize("hw, band", [
    ((480, 640), (32, 224, 0, 256)),  # 4:3: 256x192 at row 32, exactly a band
    ((1080, 1920), (32, 224, 0, 256)),  # 16:9: rows 56..200, widened to multiples of 32
    ((640, 480), (0, 256, 32, 224)),  # portrait: the columns
    ((300, 300), (0, 256, 0, 256)),  # square: the whole canvas
    ((8, 1000), (96, 160, 0, 256)),  # 2 rows at 127: never thinner than one 32-px block
])  # fmt: skip
def test_band_of_common_shapes(hw, band):
    assert _band(hw) == band


def test_band_holds_every_picture_pixel_of_a_batch_and_of_photo_views():
    rng = np.random.default_rng(0)
    for hws in ([(480, 640)], [(480, 640), (720, 1280)], [(480, 640), (640, 480)], [(9, 700)], [(333, 97)]):
        images = [rng.integers(1, 255, (*hw, 3), dtype=np.uint8) for hw in hws]
        boxed, A, _ = network_inputs(images, 64)
        y0, y1, x0, x1 = content_band(A, [(0, 0, w, h) for h, w in hws], 64)
        assert y0 % 32 == x0 % 32 == y1 % 32 == x1 % 32 == 0 and y1 > y0 and x1 > x0
        inside = np.zeros((64, 64), bool)
        inside[y0:y1, x0:x1] = True
        assert not boxed.any(-1).any(0)[~inside].any()  # nothing but black padding left out
        if len(hws) == 2 and hws[1] == (640, 480):  # landscape + portrait: the union is the square
            assert (y0, y1, x0, x1) == (0, 64, 0, 64)
    for hw in ((900, 1600), (250, 400)):  # photo mode: the whole view and tiles (square; none below ~290 px)
        views, boxed, A = photo_views(rng.integers(1, 255, (*hw, 3), dtype=np.uint8), 256)
        y0, y1, x0, x1 = content_band(A, [v.box for v in views], 256)
        inside = np.zeros((256, 256), bool)
        inside[y0:y1, x0:x1] = True
        assert not boxed.any(-1).any(0)[~inside].any()
        assert (y0, y1, x0, x1) == ((32, 224, 0, 256) if len(views) == 1 else (0, 256, 0, 256))


def test_band_cells_map_back_to_canvas_cells():
    band = np.array([[0, 5, 16 * 3 + 15]])  # a 64-px-wide band: 16 cells a row
    np.testing.assert_array_equal(canvas_cells(band, (32, 0), 16, 16), [[8 * 16, 8 * 16 + 5, 11 * 16 + 15]])
    np.testing.assert_array_equal(canvas_cells(band, (0, 32), 16, 24), [[8, 13, 3 * 24 + 23]])


class _BrightestCell:
    """A translation-equivariant stand-in network: one peak at the brightest stride-4 cell of what
    it is given, its 'offsets' a function of the pixels around it only. With `takes_bands` the
    Reconstructor feeds it the band; the hands must be those of the square run exactly."""

    backend, hand_model, max_hands, input_size = "fake", "anny", 1, 256
    calibration = Calibration()

    def __init__(self, takes_bands: bool) -> None:
        self.takes_bands = takes_bands
        self.shapes: list[tuple[int, ...]] = []

    def run(self, images, threshold=None):
        self.shapes.append(images.shape)
        B, H, W, _ = images.shape
        cells_img = images.astype(np.float32).sum(-1).reshape(B, H // 4, 4, W // 4, 4).sum((2, 4))
        cells = cells_img.reshape(B, -1).argmax(1)[:, None]
        value = cells_img.reshape(B, -1).max(1)[:, None] / (48 * 255)
        params = np.zeros((B, 1, 122), np.float32)
        params[..., 61 + 3: 61 + 6] = value[..., None] * 0.3  # a pose that depends on the pixels only
        return {"scores": np.full((B, 1), 0.9, np.float32), "cells": cells,
                "params": params, "kp_offsets": np.tile(value[..., None], (1, 1, 42)).astype(np.float32),
                "handedness": np.tile(np.array([[[0.0, 1.0]]], np.float32), (B, 1, 1))}  # fmt: skip


def test_band_run_gives_the_square_runs_hands_for_an_equivariant_net():
    rng = np.random.default_rng(1)
    images = [rng.integers(0, 60, (h, 160, 3), dtype=np.uint8) for h in (120, 90)]
    images[0][100:110, 5:15] = 255  # a bright spot near the bottom edge (4:3: the band is the picture)
    images[1][3:9, 150:158] = 255  # near the top-right corner of a 16:9 frame
    nets = [_BrightestCell(False), _BrightestCell(True), _BrightestCell(False), _BrightestCell(True)]
    square, band = (Reconstructor.for_network(n, threshold=0.5).predict_batch(images) for n in nets[:2])
    tall = images[1].transpose(1, 0, 2)  # portrait: a band of columns
    one = [Reconstructor.for_network(n, threshold=0.5).predict(tall) for n in nets[2:]]
    # 4:3 + 16:9 in one batch: rows 32..224 of the canvas
    assert nets[0].shapes == [(2, 256, 256, 3)] and nets[1].shapes == [(2, 192, 256, 3)]
    assert nets[3].shapes == [(1, 256, 192, 3)]
    for a, b in [*zip(square, band, strict=True), (one[0], one[1])]:
        assert len(a) == len(b) == 1
        np.testing.assert_array_equal(a[0].center, b[0].center)
        np.testing.assert_array_equal(a[0].keypoints2d, b[0].keypoints2d)
        np.testing.assert_array_equal(a[0].vertices, b[0].vertices)


def test_onnx_takes_band_inputs_like_pytorch_and_old_square_files_still_run(tiny_weights, tmp_path):
    pytest.importorskip("onnxruntime")
    import onnx

    from smhr.io.torchfiles import load_smhr_checkpoint
    from smhr.model.loading import network_from_checkpoint
    from smhr.onnx_export import compare_with_torch, export_onnx
    from smhr.runtime.network import OnnxPeaks

    net = network_from_checkpoint(load_smhr_checkpoint(tiny_weights), str(tiny_weights))
    path = export_onnx(net, tmp_path / "band.onnx", max_hands=4)
    assert OnnxPeaks(path).takes_bands
    for hw in ((32, 64), (64, 32), (64, 64)):  # the traced shape arithmetic follows H and W
        diff = compare_with_torch(net, path, hw=hw)
        assert diff["untied_cells"] == 0 and max(diff.values()) < 1e-3, (hw, diff)
    old = onnx.load(str(path))  # a file from before: traced at a fixed R x R
    for d, v in zip(old.graph.input[0].type.tensor_type.shape.dim[1:3], (64, 64), strict=True):
        d.dim_value = v
    onnx.save(old, str(tmp_path / "old.onnx"))
    square = OnnxPeaks(tmp_path / "old.onnx")
    assert not square.takes_bands
    image = np.random.default_rng(0).integers(0, 255, (40, 64, 3), dtype=np.uint8)
    a = Reconstructor.for_network(square, threshold=0.0, max_hands=2).predict(image)
    b = Reconstructor.for_network(OnnxPeaks(path), threshold=0.0, max_hands=2).predict(image)
    assert len(a) == len(b) == 2  # at 64 px a 40x64 picture spans the canvas: the same run
    np.testing.assert_allclose(a[0].keypoints2d, b[0].keypoints2d, atol=1e-3)


def test_shipped_weights_find_a_hand_at_the_edge_of_a_band():
    """A hand touching the picture's edge, where the band's zero padding replaces the canvas's
    black: found as in the square run, its keypoints as close to the labels (4:3 crops)."""
    pytest.importorskip("onnxruntime")
    import cv2

    labels = json.loads((SAMPLES / "labels.json").read_text())["images"]
    rec = Reconstructor.from_pretrained(side_check=False, hand_check=False)  # (the network's own answers)
    calls = []
    run = rec.network.run
    rec.network.run = lambda x, thr=None: calls.append(x.shape) or run(x, thr)
    for name, top in (("multi_1.jpg", True), ("single_2.jpg", False), ("real_4.jpg", False)):
        full = cv2.imread(str(SAMPLES / name))[:, :, ::-1]
        n = full.shape[0]
        y0 = 0 if top else n // 4
        image = full[y0 : y0 + n * 3 // 4].copy()
        truth = [np.array(h["keypoints2d_px"]) - [0, y0] for h in labels[name]]
        truth = [t for t in truth if t[:, 1].min() >= 0 and t[:, 1].max() < len(image)
                 and min(t[:, 1].min(), len(image) - 1 - t[:, 1].max()) < 4]  # fmt: skip
        assert len(truth) == 1
        err = []
        for bands in (False, True):
            rec.network.takes_bands = bands
            hands = rec.predict(image)
            err.append(min(float(np.linalg.norm(h.keypoints2d - truth[0], axis=-1).mean()) for h in hands)
                       / np.ptp(truth[0], 0).max())  # fmt: skip
        assert calls[-2:] == [(1, 256, 256, 3), (1, 192, 256, 3)]  # the square canvas, then the band
        assert err[1] < 0.35 and err[1] < err[0] + 0.02, (name, err)  # square: 0.29, 0.30, 0.19
