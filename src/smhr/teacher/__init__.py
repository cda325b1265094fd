"""The offline 2D hand teacher (MediaPipe Hands' models in ONNX, our own pre/post-processing).

`HandTeacher()(rgb)` -> list of `TeacherHand` (21 keypoints in FreiHAND order, handedness, scores).
Used by `smhr label` to give real photos weak 2D labels (docs/real-photos.md).
"""

from smhr.teacher.model import HandTeacher, TeacherHand, teacher_files

__all__ = ["HandTeacher", "TeacherHand", "teacher_files"]
