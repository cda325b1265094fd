"""Translation decode (the paper's rule with the cell-centre anchor) and re-expression with real K."""

import pytest
import torch

from smhr.geometry.cameras import project
from smhr.model.camera import cell_centres, decode_translation, virtual_intrinsics


def test_cell_centres():
    c = cell_centres(torch.tensor([0, 17, 95]), width=16, stride=4)
    assert c.tolist() == [[2.0, 2.0], [6.0, 6.0], [62.0, 22.0]]


def test_decode_translation_matches_official_formula_and_pixel():
    raw = torch.tensor([[3.0, -1.5, 0.45]])
    centre = torch.tensor([[50.0, 30.0]])
    t = decode_translation(raw, centre, input_size=224)
    Z = 0.45 + 0.8
    expected = [Z * (3.0 + 50 - 112) / 512, Z * (-1.5 + 30 - 112) / 512, Z]
    assert t[0].tolist() == pytest.approx(expected, rel=1e-6)
    uv = project(t[:, None], virtual_intrinsics(224))[0, 0]
    assert uv.tolist() == pytest.approx([53.0, 28.5], abs=1e-4)
