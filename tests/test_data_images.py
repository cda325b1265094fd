"""Image folder input and the one-line bad-file error."""

import cv2
import numpy as np
import pytest

from smhr.data.images import ImageFolder, read_rgb
from smhr.errors import BadInput


def test_folder_sorted_rgb_and_bad_file(tmp_path):
    img = np.zeros((6, 5, 3), np.uint8)
    img[..., 2] = 200  # red in BGR
    cv2.imwrite(str(tmp_path / "b.png"), img)
    cv2.imwrite(str(tmp_path / "a.jpg"), img)
    (tmp_path / "c.webp").write_bytes(b"not an image")
    (tmp_path / "notes.txt").write_text("ignored")
    ds = ImageFolder(tmp_path)
    assert [p.name for p in ds.paths] == ["a.jpg", "b.png", "c.webp"]
    s = ds[1]
    assert s.image.shape == (6, 5, 3) and s.image[0, 0, 0] == 200 and s.hands == [] and s.K is None
    with pytest.raises(BadInput, match=r"c\.webp"):
        ds[2]
    with pytest.raises(BadInput, match="no such image"):
        read_rgb(tmp_path / "missing.png")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BadInput, match="no images"):
        ImageFolder(tmp_path / "empty")
