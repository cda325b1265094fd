"""Smaller ONNX files without changing an output: float32 weights that are exactly float16 values are
stored as float16 plus a Cast node. Torch-free (numpy + onnx), so the teacher's build tool
(tools/build_teacher.py) and `smhr export --onnx` share it."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["exact_float16"]


def exact_float16(model: Any, min_size: int = 16) -> Any:
    """Float32 initializers of at least `min_size` values that are exactly float16 values -> float16
    plus a Cast node (onnxruntime folds the casts at load: same outputs, half the bytes); others stay."""
    import onnx
    from onnx import helper, numpy_helper

    g = model.graph
    casts, keep = [], []
    for init in g.initializer:
        a = numpy_helper.to_array(init)
        h = a.astype(np.float16) if a.dtype == np.float32 and a.size >= min_size else None
        if h is None or not np.array_equal(h.astype(np.float32), a):
            keep.append(init)
            continue
        keep.append(numpy_helper.from_array(h, init.name + "__f16"))
        casts.append(helper.make_node("Cast", [init.name + "__f16"], [init.name], to=onnx.TensorProto.FLOAT))
    del g.initializer[:]
    g.initializer.extend(keep)
    nodes = casts + list(g.node)
    del g.node[:]
    g.node.extend(nodes)
    return model
