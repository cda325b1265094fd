"""`Reconstructor`: image(s) in, a list of `Hand` records per image out: the one inference path.

    from smhr import Reconstructor
    rec = Reconstructor.from_pretrained()          # bundled weights; onnxruntime on the CPU
    hands = rec.predict("photo.jpg")               # path, numpy HxW[x3|x4] (uint8/uint16) or PIL
    for h in hands: print(h.side, h.score, h.keypoints2d.shape, h.vertices.shape)

Every image goes the same way whatever serves the network: the one letterbox
(`smhr.geometry.letterbox.network_inputs`), a backend of the peaks contract (`smhr.runtime.contract`:
onnxruntime, or PyTorch on a GPU or on request), the one NumPy decode and the NumPy hand models.
Training validation and `smhr eval` predict through this class too, so the numbers they report are
the numbers a user gets. Why a class: the network and both hand models are loaded once, and
`predict_batch` runs several images through one network call. Results are in the original image's
pixels. Without `focal`, 3D outputs use the network's virtual camera (f = 512 px at the input size)
mapped to the original image; with `focal` (pixels of the original image, principal point at the
image centre) or an explicit `K`, hands are placed metrically in that camera. The network runs on
the 32-aligned band of the square letterbox canvas that holds the picture(s) (`content_band`; a
640x480 frame: 256x192 of 256x256), not on the black padding; `bands=False` feeds the whole canvas.

Two modes (`mode=`): "fast" (the default, and what video uses) runs each image once, letterboxed
whole; "photo" (`smhr.runtime.tiling`) adds overlapping tiles chosen from the image's size so the
small hands of whole-body photos are found, at the cost of one network run per tile; its options
`zoom_out` (one more view: the whole photo shrunk inside a border, for hands that fill the frame)
and `mirror` (one more view: the photo mirrored, voting on each hand's side, `smhr.runtime.mirror`).
In both modes a hand that fills much of a whole view is kept from a lower score,
`large_hand_threshold` (`smhr.runtime.large_hands`: the network scores such hands low but still
ranks them well; None turns it off), and a same-side hand drawn over a better one's pixels is
dropped as its second peak (`smhr.runtime.second_peaks`). The detection threshold and the
large-hand rule's values are the weights' own when they store them (`smhr.runtime.calibration`,
written by `smhr package`). `side_check` (on by default for images, off for video) takes each
hand's side from a classifier of its own crop as well as the network's (`smhr.runtime.side_check`);
`hand_check` (the same defaults) moves each candidate's score by a classifier of the same crop
asking whether it is a hand at all (`smhr.runtime.hand_check`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from smhr.geometry.letterbox import check_camera, content_band, network_inputs, virtual_camera
from smhr.hands.assets import user_files
from smhr.hands.numpy_model import NumpyHandModel
from smhr.io.images import to_rgb_uint8
from smhr.records import DEFAULT_THRESHOLD, Hand, pick_threshold, pick_value
from smhr.runtime.contract import STRIDE, PeakBackend
from smhr.runtime.decode import decode_peaks
from smhr.runtime.hand_check import HandChecker, check_hands
from smhr.runtime.large_hands import (
    LARGE_SIDE,
    LARGE_THRESHOLD,
    acting_threshold,
    admit_large,
    decode_threshold,
)
from smhr.runtime.mirror import mirror_camera, mirror_hand, vote_sides
from smhr.runtime.options import (
    MIRROR,
    ZOOM_OUT,
    check_large_side,
    check_max_hands,
    check_min_hand_side,
    check_score,
    check_side,
    check_views,
)
from smhr.runtime.second_peaks import drop_second_peaks
from smhr.runtime.side_check import SideChecker, revise_handedness
from smhr.runtime.small_hands import keep_large_enough
from smhr.runtime.tiling import MODES, merge_views, photo_views, tile_boxes
from smhr.runtime.translation_fit import FIT_TRANSLATION

__all__ = ["Reconstructor"]


@dataclass
class Reconstructor:
    """A network backend of the peaks contract with its (left, right) NumPy hand models."""

    network: PeakBackend
    hand_models: list[NumpyHandModel]
    threshold: float = DEFAULT_THRESHOLD
    max_hands: int = 10
    mode: str = "fast"
    bands: bool = True  # run on the picture's 32-aligned band of the canvas when the backend can (faster)
    zoom_out: float = ZOOM_OUT  # photo mode: also the whole view shrunk to this share (0: off)
    mirror: bool = MIRROR  # photo mode: also the mirrored whole view, voting on sides
    large_hand_threshold: float | None = LARGE_THRESHOLD  # hands filling a whole view: kept from this score
    large_side: float = LARGE_SIDE  # ... "filling": keypoint box's long side / the view's long side
    min_hand_side: float | None = None  # shorter hands (keypoint box / input side, per view) dropped
    fit_translation: bool = FIT_TRANSLATION  # place each hand where its local keypoints see it
    side_checker: SideChecker | None = None  # each hand's side also from its crop (None: the network's)
    hand_checker: HandChecker | None = None  # each candidate's score also from its crop (None: the network's)

    def __post_init__(self) -> None:
        check_score("threshold", self.threshold)
        check_max_hands(self.max_hands)
        check_mode(self.mode)
        check_views(self.zoom_out, self.mirror)
        check_score("large_hand_threshold", self.large_hand_threshold, " (or None: off)")
        check_large_side(self.large_side)
        check_min_hand_side(self.min_hand_side)

    @classmethod
    def from_pretrained(
        cls, weights: str | Path | None = None, device: str = "auto", *, threshold: float | None = None,
        max_hands: int = 10, hand: str | None = None, mano_dir: str | os.PathLike | None = None,
        input_size: int | None = None, backend: str = "auto", threads: int | None = None,
        mode: str = "fast", zoom_out: float = ZOOM_OUT, mirror: bool = MIRROR,
        large_hand_threshold: float | str | None = "auto", large_side: float | None = None,
        min_hand_side: float | str | None = "auto", fit_translation: bool = FIT_TRANSLATION,
        side_check: bool = True, hand_check: bool = True,
    ) -> Reconstructor:
        """Load `weights` (a `smhr train` model.pt, or an `smhr export --onnx` file; default: the
        bundled weights).

        backend: "onnxruntime" (no PyTorch, CPU: the fastest start-up and CPU latency,
        docs/network.md), "torch" (CPU or CUDA, any input size; needs the `train` extra), or
        "auto": onnxruntime for ONNX files, and for the bundled weights on the CPU; torch for a
        model.pt, and for the bundled weights on a GPU (device "cuda", or "auto" with a usable one)
        or with an input size. device: "auto" (CUDA when available), "cpu" or
        "cuda" (torch backend). threads: CPU threads of the onnxruntime backend.
        threshold: minimum centre score of a hand. None takes the weights' own calibrated value
        (written when they were packaged: detection scores of different trainings are not on one
        scale), else DEFAULT_THRESHOLD. max_hands: at most this many hands per image (an ONNX
        export caps it at its slot count). input_size: side of the square network input (a
        multiple of 32); None = the size the weights were trained at (an ONNX export has a fixed
        size). hand: the hand model the parameters drive (default: the weights'); mano_dir: the
        folder of MANO_*.pkl when that is "mano". mode: "fast" (one letterboxed view per image) or
        "photo" (plus tiles, for small hands in still photos; `predict(..., mode=)` overrides it).
        zoom_out / mirror: photo mode's extra views (the class fields; `predict` overrides them).
        large_hand_threshold: the lower score from which a hand spanning >= large_side (default 0.6)
        of a whole view is kept when it overlaps no other (`smhr.runtime.large_hands`; None: off;
        "auto": the weights' stored value, else LARGE_THRESHOLD). large_side: None takes the
        weights' stored value, else LARGE_SIDE. min_hand_side: hands whose keypoint box is shorter
        than this share of the network input's side in their view are dropped
        (`smhr.runtime.small_hands`; None: no limit; "auto": the weights' stored value, else None).
        fit_translation: move each hand to the translation that lays its keypoints on the local
        keypoint head's (`smhr.runtime.translation_fit`; False: the predicted translation as is).
        side_check: also ask the bundled side classifier of each hand's crop (`smhr.runtime.side_check`;
        ~1.3 ms for one hand, ~7.7 ms for nine on 2 CPU cores; False: the network's side alone,
        as `smhr demo` uses for video frames). hand_check: also ask the bundled hand classifier of
        each candidate's crop whether it is a hand (`smhr.runtime.hand_check`; one more classifier
        run per candidate; False: the network's score alone, as for video frames)."""
        from smhr.runtime import loading
        from smhr.runtime.options import check_options

        check_options(device, threshold, max_hands)
        check_mode(mode)
        check_views(zoom_out, mirror)
        if large_hand_threshold != "auto":
            check_score("large_hand_threshold", large_hand_threshold, " (or None: off, or 'auto')")
        if large_side is not None:
            check_large_side(large_side)
        if min_hand_side != "auto":
            check_min_hand_side(min_hand_side)
        if input_size is not None and (input_size % 32 or not 64 <= input_size <= 2048):
            raise ValueError(f"input_size must be a multiple of 32 in [64, 2048], got {input_size}")
        path = Path(weights) if weights is not None else None
        chosen = loading.choose_backend(backend, path, device, input_size)
        onnx = chosen == "onnxruntime"
        path = path or loading.bundled_weights(onnx=onnx)
        if onnx:
            net = loading.load_onnx(path, weights is not None, input_size=input_size, threads=threads)
        else:
            net = loading.load_torch(path, weights is not None, device, max_hands=max_hands,
                                     input_size=input_size)
        stored = net.calibration
        rec = cls.for_network(net, threshold=pick_threshold(threshold, stored.score_threshold),
                              max_hands=max_hands, hand=hand, mano_dir=mano_dir, mode=mode)
        rec.zoom_out, rec.mirror = float(zoom_out), bool(mirror)
        rec.fit_translation = bool(fit_translation)
        rec.side_checker = SideChecker(threads=threads) if side_check else None
        rec.hand_checker = HandChecker(threads=threads) if hand_check else None
        if large_hand_threshold == "auto":
            large_hand_threshold = pick_value(None, stored.large_hand_threshold, LARGE_THRESHOLD)
        rec.large_hand_threshold = large_hand_threshold
        rec.large_side = pick_value(large_side, stored.large_side, LARGE_SIDE)
        rec.min_hand_side = stored.min_hand_side if min_hand_side == "auto" else min_hand_side
        return rec

    @classmethod
    def for_network(cls, network: PeakBackend, *, threshold: float = DEFAULT_THRESHOLD, max_hands: int = 10,
                    hand: str | None = None, mano_dir: str | os.PathLike | None = None,
                    mode: str = "fast") -> Reconstructor:
        """A predictor around an already loaded backend (e.g. `smhr.model.peaks.TorchPeaks` of the
        net being trained), with the NumPy hand models of kind `hand` (default: the network's)."""
        kind = hand or network.hand_model
        path = user_files(kind, mano_dir)
        keypoints = getattr(network, "keypoints", "joints")  # a user's backend may predate the attribute
        models = [NumpyHandModel.load(kind, side, path, keypoints=keypoints) for side in ("left", "right")]
        return cls(network, models, float(threshold), min(int(max_hands), network.max_hands), mode)

    @property
    def backend(self) -> str:
        """What runs the network: "onnxruntime" | "torch"."""
        return self.network.backend

    @property
    def input_size(self) -> int:
        """Side of the square image the network sees (the letterbox target)."""
        return self.network.input_size

    @property
    def hand_model(self) -> str:
        """Kind of the hand models the parameters drive ("anny" | "mano")."""
        return self.hand_models[1].kind

    @property
    def faces(self) -> dict[int, np.ndarray]:
        """Triangles per side (0 left, 1 right) for exporting meshes."""
        return {i: m.faces for i, m in enumerate(self.hand_models)}

    def predict(self, image: Any, *, focal: float | None = None, K: np.ndarray | None = None,
                mode: str | None = None, zoom_out: float | None = None, mirror: bool | None = None,
                side_check: bool | None = None, hand_check: bool | None = None) -> list[Hand]:  # fmt: skip
        """Hands in one image, best score first. NumPy images are RGB (an OpenCV `imread` result is
        BGR: pass `img[..., ::-1]`); several images: `predict_batch`. mode, zoom_out, mirror,
        side_check, hand_check: None = the Reconstructor's own."""
        return self.predict_batch([image], focal=focal, K=None if K is None else [K], mode=mode,
                                  zoom_out=zoom_out, mirror=mirror, side_check=side_check,
                                  hand_check=hand_check)[0]  # fmt: skip

    def tiles(self, image_hw: tuple[int, int], mode: str | None = None) -> list[tuple[int, int, int, int]]:
        """The tiles (x0, y0, x1, y1, photo pixels) photo mode adds for an image of this (H, W)
        (none in fast mode): what the demo's JSON records."""
        if check_mode(mode or self.mode) == "fast":
            return []
        return tile_boxes(image_hw, self.input_size)

    def predict_batch(
        self, images: Sequence[Any], *, focal: float | None = None, K: Sequence[np.ndarray] | None = None,
        side: int | None = None, mode: str | None = None, zoom_out: float | None = None,
        mirror: bool | None = None, side_check: bool | None = None, hand_check: bool | None = None,
    ) -> list[list[Hand]]:
        """Hands per image for several images in one network run (photo mode: one run per image,
        its views batched). side: None = each hand's side from the network; 0 / 1 = decode every
        hand as left / right (single-side benchmarks; no side vote then). zoom_out, mirror: photo
        mode's extra views (None = the Reconstructor's own; fast mode has none). side_check: False
        skips the side classifier for this call (video), True needs one (None: whether it has one);
        hand_check: the same for the hand classifier."""
        if _one_image(images):
            raise TypeError("predict_batch takes a list of images; for one image use predict(image)")
        if not len(images):
            return []
        check_side(side)
        check_camera(focal, K, len(images))
        zoom = self.zoom_out if zoom_out is None else zoom_out
        mirror = self.mirror if mirror is None else mirror
        check_views(zoom, mirror)
        if side_check and self.side_checker is None:
            raise ValueError("side_check=True: this Reconstructor has no side classifier; load it with "
                             "from_pretrained(..., side_check=True)")
        if hand_check and self.hand_checker is None:
            raise ValueError("hand_check=True: this Reconstructor has no hand classifier; load it with "
                             "from_pretrained(..., hand_check=True)")
        check = (self.side_checker if side is None and side_check is not False else None,
                 self.hand_checker if hand_check is not False else None)
        if check_mode(mode or self.mode) == "photo":
            return [self._predict_photo(im, i, focal, None if K is None else K[i], side, zoom, mirror, check)
                    for i, im in enumerate(images)]  # fmt: skip
        rgb = [to_rgb_uint8(im, f"image {i}") for i, im in enumerate(images)]
        boxed, affines, Ks = network_inputs(rgb, self.input_size, focal=focal, K=K)
        outputs = self._run(boxed, affines, [(0, 0, im.shape[1], im.shape[0]) for im in rgb])
        outputs = self._check_sides(outputs, rgb, affines, check[0])
        R = self.input_size
        found = decode_peaks(outputs, self.hand_models, R, R // STRIDE, affines, self._decode_threshold, Ks,
                             side=side, fit_translation=self.fit_translation)
        if check[1] is not None:
            found = [check_hands(hs, im, check[1], self.threshold, self._large_px(max(im.shape[:2])))
                     for hs, im in zip(found, rgb, strict=True)]  # fmt: skip
        scales = np.asarray(affines)[:, 0, 0] / R  # input sides per image pixel
        return [self._admit(hands, (0, 0, im.shape[1], im.shape[0]), scale)
                for hands, im, scale in zip(found, rgb, scales, strict=True)]  # fmt: skip

    @property
    def _decode_threshold(self) -> float:
        return decode_threshold(self.threshold, self.large_hand_threshold)

    def _admit(self, hands: list[Hand], view_box: Sequence[float] | None, scale: float | None) -> list[Hand]:
        """A view's decoded hands -> the kept ones: none shorter than min_hand_side of the input
        (scale: input sides per image pixel of the view), those >= threshold, and large ones from the
        large-hand threshold when the view is a whole one (view_box: its box; None for tiles and
        zoomed views); then no second peak of a kept hand (`smhr.runtime.second_peaks`)."""
        hands = keep_large_enough(hands, scale, self.min_hand_side)
        if view_box is None:
            return drop_second_peaks([h for h in hands if h.score >= self.threshold])
        return drop_second_peaks(admit_large(hands, self.threshold, self.large_hand_threshold, view_box,
                                             self.large_side))

    def _predict_photo(self, image: Any, index: int, focal: float | None, K: np.ndarray | None,
                       side: int | None, zoom_out: float, mirror: bool,
                       check: tuple[SideChecker | None, HandChecker | None]) -> list[Hand]:  # fmt: skip
        """Photo mode for one image: its whole view, tiles and the extra views in one network run,
        each view decoded in the photo's one camera (the mirrored view in the mirrored camera, its
        hands mirrored back), duplicates merged (`smhr.runtime.tiling.merge_views`; with the
        zoomed-out view on, each hand's side voted by its copies in the other views), then the
        mirrored view's side vote."""
        rgb = to_rgb_uint8(image, f"image {index}")
        H, W = rgb.shape[:2]
        if K is None and focal is not None:
            K = np.array([[focal, 0.0, (W - 1) / 2], [0.0, focal, (H - 1) / 2], [0.0, 0.0, 1.0]])
        camera = np.asarray(K, np.float64) if K is not None else virtual_camera((H, W), self.input_size)
        vote = mirror and side is None
        views, boxed, affines = photo_views(rgb, self.input_size, zoom_out=zoom_out or None, mirror=vote)
        outputs = self._run(boxed, affines, [v.box for v in views])
        flipped = rgb[:, ::-1] if vote else rgb  # a mirrored view's affine maps from the mirrored photo
        sources = [flipped if v.mirrored else rgb for v in views]
        outputs = self._check_sides(outputs, sources, affines, check[0])
        R = self.input_size
        Ks = np.stack([mirror_camera(camera, W) if v.mirrored else camera for v in views])
        per_view = decode_peaks(outputs, self.hand_models, R, R // STRIDE, affines, self._decode_threshold,
                                Ks, side=side, fit_translation=self.fit_translation)
        whole = [(v.whole or v.mirrored) and v.zoom == 1.0 for v in views]
        if check[1] is not None:
            large_px = self._large_px(max(H, W))  # (whole views only: tiles and extra views only lower)
            per_view = [check_hands(hs, im, check[1], self.threshold, large_px if w else np.inf, lift=w)
                        for hs, im, w in zip(per_view, sources, whole, strict=True)]  # fmt: skip
        per_view = [self._admit(hs, v.box if w else None, v.scale)
                    for hs, v, w in zip(per_view, views, whole, strict=True)]
        view_vote = side is None and zoom_out > 0  # (tiles alone: no vote, docs/evaluation.md)
        if not vote:
            return merge_views(per_view, views, (H, W), self.max_hands, side_vote=view_vote)
        hands = merge_views(per_view[:-1], views[:-1], (H, W), self.max_hands, side_vote=view_vote)
        return vote_sides(hands, [mirror_hand(h, W, camera) for h in per_view[-1]])

    def _check_sides(self, outputs: dict[str, np.ndarray], sources: Sequence[np.ndarray],
                     affines: np.ndarray, side: SideChecker | None) -> dict[str, np.ndarray]:  # fmt: skip
        """The outputs with each candidate's side logits revised by the side checker of this call
        (`smhr.runtime.side_check`; None: not asked); sources[b]: the image affines[b] maps from."""
        if side is None:
            return outputs
        return revise_handedness(outputs, sources, affines, self._decode_threshold, self.input_size // STRIDE,
                                 side)

    def _large_px(self, view_side: float) -> float:
        """The keypoint-box side (px) from which the large-hand rule reads a hand of a whole view of
        this long side as large (inf when the rule is off: None, or a value at or above the threshold,
        as weights calibrated to "off" store it): the hand check never lowers those."""
        if acting_threshold(self.threshold, self.large_hand_threshold) is None:
            return np.inf
        return self.large_side * view_side

    def _run(self, boxed: np.ndarray, affines: np.ndarray,
             boxes: Sequence[Sequence[float]]) -> dict[str, np.ndarray]:  # fmt: skip
        """The network's outputs for letterboxed canvases [B,R,R,3] (first `max_hands` slots), run
        only on the 32-aligned band of the canvas that holds the pictures (`content_band`: a 4:3
        frame skips a quarter of the work) when the backend takes such inputs and `bands` is on;
        the cells come back as cells of the square canvas's grid, so the decode is the same either
        way (the outputs differ only where the convolutions' zero padding at the band's edges
        replaces the canvas's black: docs/network.md)."""
        R = self.input_size
        y0, y1, x0, x1 = content_band(affines, boxes, R) \
            if self.bands and getattr(self.network, "takes_bands", False) else (0, R, 0, R)  # fmt: skip
        band = (y0, y1, x0, x1) != (0, R, 0, R)
        if band:
            boxed = boxed[:, y0:y1, x0:x1]
        found = self.network.run(boxed, self._decode_threshold)
        outputs = {k: v[:, : self.max_hands] for k, v in found.items()}
        if band:
            outputs["cells"] = canvas_cells(outputs["cells"], (y0, x0), (x1 - x0) // STRIDE, R // STRIDE)
        return outputs


def canvas_cells(cells: np.ndarray, origin: tuple[int, int], band_width: int, grid_width: int) -> np.ndarray:
    """Flat cells y * band_width + x of a band's stride-4 map whose top-left pixel is origin =
    (y0, x0) of the canvas (multiples of 32) -> the same cells of the canvas's map (grid_width
    cells a row)."""
    cells = np.asarray(cells, np.int64)
    y = cells // band_width + origin[0] // STRIDE
    x = cells % band_width + origin[1] // STRIDE
    return y * grid_width + x


def _one_image(images: Any) -> bool:
    """Whether `predict_batch` was handed one image instead of a list (a path, a PIL image, or an
    array shaped like one picture): iterating it would give characters or pixel rows."""
    if isinstance(images, str | bytes | os.PathLike) or hasattr(images, "getbands"):
        return True
    if not isinstance(images, np.ndarray):
        return False
    return images.ndim <= 2 or (images.ndim == 3 and images.shape[-1] in (1, 3, 4))


def check_mode(mode: str) -> str:
    """The mode, or a one-line ValueError naming the choices."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    return mode
