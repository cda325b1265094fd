"""Photo mode's cost on a 12-MP photo, end to end (`predict(path)`: JPEG read, whole view + tiles,
network, decode, merge), beside fast mode; prints one JSON object.

    python benchmarks/bench_photo.py [--repeats 7] [--image src/smhr/assets/samples/real_1.jpg]
        [--size 4000 3000] [--threads 2]

The 12-MP photo is a bundled sample upscaled to --size (written as a quality-95 JPEG to a temp
folder), so the number is about pixels, not content. Reported per mode (fast, photo, and photo with
each of its extra views, the zoomed-out and the mirrored one, and both): the median and min of
--repeats runs after one warm-up, the hands found, and the views (1 + tiles + extra views); for
plain photo mode also the median split into read, views (crop + letterbox each), network and
decode + merge.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np


def main() -> None:
    from smhr.app.api import Reconstructor
    from smhr.geometry.letterbox import virtual_camera
    from smhr.io.images import read_rgb
    from smhr.runtime.contract import STRIDE
    from smhr.runtime.decode import decode_peaks
    from smhr.runtime.tiling import merge_views, photo_views

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sample = Path(__file__).resolve().parents[1] / "src/smhr/assets/samples/real_1.jpg"
    ap.add_argument("--image", default=str(sample))
    ap.add_argument("--size", nargs=2, type=int, default=[4000, 3000], help="width height")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--zoom-out", type=float, default=0.5, help="the zoomed-out view's share of the input")
    args = ap.parse_args()
    rec = Reconstructor.from_pretrained(device="cpu", threads=args.threads)
    big = cv2.resize(cv2.imread(args.image), tuple(args.size), interpolation=cv2.INTER_CUBIC)
    out: dict = {"image": Path(args.image).name, "size": args.size, "backend": rec.backend}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "photo12mp.jpg"
        cv2.imwrite(str(path), big, [cv2.IMWRITE_JPEG_QUALITY, 95])
        runs = {"fast": ("fast", {}), "photo": ("photo", {"zoom_out": 0.0, "mirror": False}),
                "photo+zoom_out": ("photo", {"zoom_out": args.zoom_out, "mirror": False}),
                "photo+mirror": ("photo", {"zoom_out": 0.0, "mirror": True}),
                "photo+zoom_out+mirror": ("photo", {"zoom_out": args.zoom_out, "mirror": True})}
        for name, (mode, views) in runs.items():
            hands = rec.predict(path, mode=mode, **views)  # warm-up
            times = []
            for _ in range(args.repeats):
                t = time.perf_counter()
                rec.predict(path, mode=mode, **views)
                times.append(time.perf_counter() - t)
            extra = int(views.get("zoom_out", 0) > 0) + int(views.get("mirror", False))
            out[name] = {"seconds_median": round(statistics.median(times), 3),
                         "seconds_min": round(min(times), 3), "hands": len(hands),
                         "views": 1 + len(rec.tiles(big.shape[:2], mode)) + extra}
        split: dict[str, list[float]] = {"read": [], "views": [], "network": [], "decode_merge": []}
        R = rec.input_size
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            rgb = read_rgb(path)
            t1 = time.perf_counter()
            views, boxed, affines = photo_views(rgb, R)
            t2 = time.perf_counter()
            outputs = {k: v[:, : rec.max_hands] for k, v in rec.network.run(boxed).items()}
            t3 = time.perf_counter()
            Ks = np.broadcast_to(virtual_camera(rgb.shape[:2], R), (len(views), 3, 3))
            per = decode_peaks(outputs, rec.hand_models, R, R // STRIDE, affines, rec.threshold, Ks)
            merge_views(per, views, rgb.shape[:2], rec.max_hands)
            t4 = time.perf_counter()
            for k, dt in zip(split, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
                split[k].append(dt)
        out["photo"]["split_median_s"] = {k: round(statistics.median(v), 3) for k, v in split.items()}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
