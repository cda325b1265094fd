"""The offline 2D hand teacher (MediaPipe's hand and pose models in ONNX, our own pre/post-processing).

`make_teacher("v1" | "v2")(rgb)` -> list of `TeacherHand` (21 keypoints in FreiHAND order,
handedness, scores). v1 = `HandTeacher` (MediaPipe Hands' static-image pipeline, exact); v2 =
`HandTeacherV2` (v1 + tiles + pose-derived hand crops, flip-checked). Used by `smhr label` to give
real photos weak 2D labels (docs/real-photos.md).
"""

from smhr.teacher.model import HandTeacher, TeacherHand, teacher_files
from smhr.teacher.v2 import TEACHER_VERSIONS, HandTeacherV2, make_teacher, model_files

__all__ = [
    "TEACHER_VERSIONS",
    "HandTeacher",
    "HandTeacherV2",
    "TeacherHand",
    "make_teacher",
    "model_files",
    "teacher_files",
]
