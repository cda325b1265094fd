"""Read MediaPipe's palm detector ONNX file into the PyTorch rebuild (`smhr.model.palm_net`), strictly.

Why our own loader: generic ONNX->PyTorch converters produce a graph module whose parameter names
follow the file's node names, so a checkpoint could not be rebuilt without the ONNX file. Here the
architecture is code and this module only fills its tensors: the file's Conv / PRelu nodes are
paired, in graph order, with the module's `layers()` (same kind, kernel, stride, groups and shapes
each), every initializer of the file must be used (a weight, or a constant of a shape-only node:
Pad, Resize, Reshape), and every tensor of the module must be filled. Anything else is one
`BackboneWeightsError` line naming the file, so a different model never loads partially.

The bundled file stores float16 weights behind Cast nodes (`tools/build_teacher.py`); they are read
through the Cast and widened to float32 (the values the graph computes with).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from smhr.model.backbones import BackboneWeightsError

__all__ = ["load_palm_onnx", "read_palm_layers"]

_SHAPE_OPS = {"Pad", "Resize", "Reshape"}  # nodes whose constant inputs are shapes, not weights


def _fail(path: Path, why: str) -> BackboneWeightsError:
    return BackboneWeightsError(
        f"--backbone-weights {path}: {why}; pass MediaPipe's palm_detection_full.onnx "
        "(bundled: smhr/assets/teacher/palm_detection_full.onnx, or backbone_weights: auto)"
    )


def read_palm_layers(path: str | Path) -> list[dict[str, Any]]:
    """The file's Conv / PRelu nodes in graph order: {'op', 'name', 'tensors' [float32 arrays],
    'kernel', 'stride', 'group'}. Raises BackboneWeightsError (unreadable file, unused tensors)."""
    path = Path(path)
    if not path.is_file():
        raise _fail(path, "no such file")
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise BackboneWeightsError(
            f"--backbone-weights {path}: reading ONNX needs the onnx package: pip install 'smhr[train]'"
        ) from exc
    try:
        graph = onnx.load(str(path)).graph
    except Exception as exc:  # not protobuf / truncated
        raise _fail(path, f"not a readable ONNX file ({type(exc).__name__})") from exc
    inits = {t.name: t for t in graph.initializer}
    via_cast = {n.output[0]: n.input[0] for n in graph.node if n.op_type == "Cast" and n.input[0] in inits}
    used: set[str] = set()
    layers = []
    for node in graph.node:
        if node.op_type in _SHAPE_OPS:
            used.update(i for i in node.input if i in inits)
            continue
        if node.op_type not in ("Conv", "PRelu"):
            continue
        tensors = []
        for name in node.input[1:]:
            src = via_cast.get(name, name)
            if src not in inits:
                raise _fail(path, f"{node.op_type} node {node.name} reads {name}, which is no stored tensor")
            used.add(src)
            tensors.append(numpy_helper.to_array(inits[src]).astype(np.float32))
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        layers.append({
            "op": node.op_type, "name": node.name, "tensors": tensors,
            "kernel": tuple(attrs.get("kernel_shape", ())), "stride": tuple(attrs.get("strides", (1, 1))),
            "group": int(attrs.get("group", 1)),
        })  # fmt: skip
    unused = sorted(set(inits) - used)
    if unused:
        names = ", ".join(unused[:4])
        raise _fail(path, f"{len(unused)} stored tensors are no palm-detector weight ({names})")
    return layers


def _fill(module: nn.Module, layer: dict[str, Any], path: Path, i: int) -> None:
    """Copy one ONNX layer's tensors into a Conv2d / PReLU after checking it is the same layer."""
    where = f"layer {i} ({layer['op']} {layer['name']})"
    if isinstance(module, nn.Conv2d):
        if layer["op"] != "Conv" or len(layer["tensors"]) != 2:
            raise _fail(path, f"{where}: expected a Conv with weight and bias")
        got = (layer["kernel"], layer["stride"], layer["group"])
        want = (tuple(module.kernel_size), tuple(module.stride), module.groups)
        if got != want:
            raise _fail(path, f"{where}: kernel/stride/groups {got}, the palm network has {want}")
        targets = [module.weight, module.bias]
        values = layer["tensors"]
    else:
        if layer["op"] != "PRelu" or len(layer["tensors"]) != 1:
            raise _fail(path, f"{where}: expected a PRelu")
        targets = [module.weight]
        values = [layer["tensors"][0].reshape(-1)]  # [1, C, 1, 1] slopes -> PReLU's [C]
    for t, v in zip(targets, values, strict=True):
        if tuple(v.shape) != tuple(t.shape):
            raise _fail(path, f"{where}: shape {tuple(v.shape)}, the palm network has {tuple(t.shape)}")
    with torch.no_grad():
        for t, v in zip(targets, values, strict=True):
            t.copy_(torch.from_numpy(v))


def load_palm_onnx(detector: nn.Module, path: str | Path, name: str = "mediapipe_palm") -> None:
    """Fill a `PalmDetector` (anything with `layers()`: its Conv2d / PReLU in graph order) from the
    palm detector ONNX file at `path`, strictly (module docstring). `name`: the backbone's name,
    for messages."""
    path = Path(path)
    layers = read_palm_layers(path)
    mods = detector.layers()
    if len(layers) != len(mods):
        raise _fail(path, f"{len(layers)} Conv/PRelu layers, the {name} network has {len(mods)}")
    for i, (mod, layer) in enumerate(zip(mods, layers, strict=True)):
        _fill(mod, layer, path, i)
    covered = {id(p) for m in mods for p in m.parameters(recurse=False)}
    left = [n for n, p in detector.named_parameters() if id(p) not in covered]
    if left:  # a module outside layers(): it would keep its random values
        raise _fail(path, f"the {name} network has tensors no layer fills ({', '.join(left[:4])})")
