"""tf2onnx's `--tflite` conversion for TFLite models whose weights are stored sparse (DENSIFY ops).

Why this exists: MediaPipe's `pose_detection.tflite` (teacher v2's person detector) keeps 38 of its
1x1-convolution weight tensors in TFLite's sparse format (75 % zeros), each followed by a DENSIFY
op. tf2onnx 1.17 reads constant tensors as dense buffers and fails on them ("cannot reshape array
of size 96 into shape (16,1,1,24)"). This script densifies those tensors from their sparsity
metadata (per dimension DENSE or SPARSE_CSR; block sparsity is refused), hands tf2onnx the dense
buffers and converts each DENSIFY op to an Identity; the rest is tf2onnx unchanged. The result
matched the TFLite interpreter to 1.4e-3 on regressor values up to ~550 (NOTICE.md beside the
shipped file).

Usage (the conversion venv of tools/build_teacher.py: tensorflow-cpu 2.21, tf2onnx 1.17):
    python tools/convert_tflite_sparse.py pose_detection.tflite pose_detection.raw.onnx
then tools/build_teacher.py as for every teacher file.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
from tf2onnx import convert, tflite_utils
from tf2onnx.handler import tfl_op
from tf2onnx.tflite.Int32Vector import Int32Vector
from tf2onnx.tflite.Uint8Vector import Uint8Vector
from tf2onnx.tflite.Uint16Vector import Uint16Vector

INDEX_VECTORS = {1: Int32Vector, 2: Uint16Vector, 3: Uint8Vector}  # TFLite SparseIndexVector
FLOAT_TYPES = {0: np.float32, 1: np.float16}  # TFLite TensorType FLOAT32, FLOAT16
DENSE = 0  # TFLite DimensionType (else SPARSE_CSR)


def _indices(kind: int, table: Any) -> np.ndarray:
    v = INDEX_VECTORS[kind]()
    v.Init(table.Bytes, table.Pos)
    return v.ValuesAsNumpy().astype(np.int64)


def densify(model: Any, tensor: Any) -> np.ndarray:
    """The dense array of one sparse constant tensor, walking its dimensions in traversal order:
    a DENSE dimension visits every index, a SPARSE_CSR one the stored indices of its segment."""
    sp = tensor.Sparsity()
    shape = tensor.ShapeAsNumpy().tolist()
    if sp.BlockMapLength() or sp.TraversalOrderAsNumpy().tolist() != list(range(len(shape))):
        raise NotImplementedError(f"{tensor.Name().decode()}: block-sparse tensors are not handled")
    values = np.frombuffer(model.Buffers(tensor.Buffer()).DataAsNumpy().tobytes(), FLOAT_TYPES[tensor.Type()])
    dims = [sp.DimMetadata(i) for i in range(sp.DimMetadataLength())]
    dense = np.zeros(shape, values.dtype)

    def walk(level: int, pos: int, coord: tuple[int, ...]) -> None:
        d = dims[level]
        if d.Format() == DENSE:
            children = [(i, pos * d.DenseSize() + i) for i in range(d.DenseSize())]
        else:
            seg = _indices(d.ArraySegmentsType(), d.ArraySegments())
            idx = _indices(d.ArrayIndicesType(), d.ArrayIndices())
            children = [(int(idx[k]), k) for k in range(seg[pos], seg[pos + 1])]
        for c, p in children:
            if level == len(dims) - 1:
                dense[(*coord, c)] = values[p]
            else:
                walk(level + 1, p, (*coord, c))

    walk(0, 0, ())
    return dense


class _DenseBuffer:
    """Stands in for a TFLite Buffer: the dense bytes of a densified tensor."""

    def __init__(self, array: np.ndarray) -> None:
        self.data = np.frombuffer(np.ascontiguousarray(array).tobytes(), np.uint8)

    def DataIsNone(self) -> bool:  # noqa: N802 - the flatbuffers reader's API
        return False

    def DataAsNumpy(self) -> np.ndarray:  # noqa: N802
        return self.data


class _DenseModel:
    """The TFLite Model reader with the sparse tensors' buffers replaced by dense ones."""

    def __init__(self, model: Any, dense: dict[int, np.ndarray]) -> None:
        self._model, self._dense = model, dense

    def Buffers(self, i: int) -> Any:  # noqa: N802
        return _DenseBuffer(self._dense[i]) if i in self._dense else self._model.Buffers(i)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)


@tfl_op(["TFL_DENSIFY"], onnx_op="Identity")
class TflDensify:
    """DENSIFY of an already dense constant: an Identity."""

    @classmethod
    def version_1(cls, ctx: Any, node: Any, **kwargs: Any) -> None:
        pass


def main(tflite_path: str, onnx_path: str) -> None:
    read = tflite_utils.read_tflite_model

    def read_dense(path: str) -> Any:
        graphs, opcodes, model, shapes = read(path)
        g = graphs[-1]
        dense = {}
        for i in range(g.TensorsLength()):
            t = g.Tensors(i)
            if t.Sparsity() is not None:
                dense[t.Buffer()] = densify(model, t)
        print(f"densified {len(dense)} sparse weight tensors", file=sys.stderr)
        return graphs, opcodes, _DenseModel(model, dense), shapes

    tflite_utils.read_tflite_model = read_dense
    sys.argv = ["tf2onnx", "--tflite", tflite_path, "--output", onnx_path, "--opset", "13"]
    convert.main()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python tools/convert_tflite_sparse.py MODEL.tflite OUT.onnx")
    main(sys.argv[1], sys.argv[2])
