"""`OUT/index.html`: look at a demo run's results in 3D in any browser, offline, nothing installed.

One self-contained page: the image list with overlays (the `NAME_overlay.png` files beside it), and
for the chosen image an interactive view of its hands (drag to orbit, wheel to zoom, double click
to reset, a checkbox per hand, side labels at the wrists). The vendored three.js
(smhr/assets/viewer/VENDORED.md, MIT) is inlined, wrapped in a function that returns its exports:
Chromium refuses ES-module imports between `file://` files, and the page must work without network.
Meshes are int16-quantised (per hand: offset + scale, ~3 um steps for a 0.2 m hand) and
base64-encoded, about 10 kB per hand; the triangles are stored once per side.
"""

from __future__ import annotations

import base64
import importlib.resources
import json
import os
import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from smhr.app.outputs import shown_path
from smhr.hands.keypoints import SIDE_NAMES
from smhr.io.atomic import atomic_write
from smhr.records import Hand

__all__ = ["MAX_IMAGES", "THREE_VERSION", "viewer_html", "write_viewer"]

THREE_VERSION = "0.170.0"
MAX_IMAGES = 500
"""Images whose meshes the page embeds (about 10 kB per hand); a bigger run lists the first ones."""


def _asset(name: str) -> str:
    return (importlib.resources.files("smhr") / "assets" / "viewer" / name).read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def three_script() -> str:
    """The vendored three.js module as a classic script defining `THREE` (its final `export{a as B,
    ...}` becomes the object the wrapping function returns)."""
    code = _asset("three.module.min.js")
    found = list(re.finditer(r"export\s*\{([^}]*)\}\s*;?\s*$", code))
    if len(found) != 1:
        raise RuntimeError("smhr/assets/viewer/three.module.min.js is not the self-contained module build")
    names = []
    for item in found[0].group(1).split(","):
        local, _, public = item.strip().partition(" as ")
        names.append(f"{public or local}:{local}")
    exports = ",".join(names)
    return f'const THREE=(function(){{"use strict";{code[: found[0].start()]}\nreturn{{{exports}}};}})();'


def _b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode("ascii")


def hand_entry(hand: Hand) -> dict[str, Any]:
    """One hand for the page: side, score, wrist and the int16-quantised vertices."""
    v = np.asarray(hand.vertices, np.float64)
    lo, hi = v.min(0), v.max(0)
    offset = (lo + hi) / 2
    scale = max(float((hi - lo).max()) / 2 / 32000, 1e-9)
    q = np.round((v - offset) / scale).astype("<i2")
    wrist = np.asarray(hand.joints3d[0], np.float64).round(5).tolist()
    return {"side": SIDE_NAMES[hand.side], "score": round(float(hand.score), 4), "offset": offset.tolist(),
            "scale": scale, "wrist": wrist, "q": _b64(q)}


def viewer_html(images: Sequence[tuple[str, str, Sequence[Hand]]], faces: dict[int, np.ndarray]) -> str:
    """The page for (stem, source, hands) per image; faces per side (0 left, 1 right)."""
    tri = {}
    for side, f in faces.items():
        big = int(np.max(f)) > 65535
        flat = np.asarray(f, "<u4" if big else "<u2").reshape(-1)
        tri[SIDE_NAMES[side]] = {"uint32": big, "data": _b64(flat)}
    entries = []
    for stem, source, hands in images[:MAX_IMAGES]:
        overlay = quote(os.fsencode(f"{stem}_overlay.png"))  # a URL of the file's very bytes
        entries.append({"stem": shown_path(stem), "source": shown_path(source), "overlay": overlay,
                        "hands": [hand_entry(h) for h in hands]})  # fmt: skip
    # every "<" escaped: no file name can end the inline script or open an HTML comment in it
    text = json.dumps({"images": entries, "faces": tri}, separators=(",", ":")).replace("<", "\\u003c")
    parts = {"DATA": text, "THREE": three_script(), "VIEWER": _asset("viewer.js")}
    for marker, content in parts.items():
        if "</script" in content.lower():  # would end the inline script early
            raise RuntimeError(f"viewer content for /*{marker}*/ holds a closing script tag")
    # one pass over the template: a marker inside inserted content (a file name) is not replaced
    return re.sub(r"/\*(DATA|THREE|VIEWER)\*/", lambda m: parts[m.group(1)], _asset("viewer.html"), count=3)


def write_viewer(out: Path, images: Sequence[tuple[str, str, Sequence[Hand]]],
                 faces: dict[int, np.ndarray]) -> Path:  # fmt: skip
    """Write `out/index.html` (all or nothing) for the images of a run; returns its path."""
    return atomic_write(out / "index.html", viewer_html(images, faces))
