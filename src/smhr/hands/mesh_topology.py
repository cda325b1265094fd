"""Triangle-mesh topology helpers of the hand assets: boundary loops, capping them, the enclosed
volume's sign (which tells outward from inward winding).

Why apart from the Anny build: they are plain functions of a face array, testable on a
tetrahedron, and any hand asset (not only Anny's) can be checked for holes and winding with them.
"""

from __future__ import annotations

import numpy as np

__all__ = ["boundary_loops", "close_boundaries", "signed_volume"]


def boundary_loops(faces: np.ndarray) -> list[list[int]]:
    """Closed vertex loops along the mesh's boundary edges, each in the direction its edges run in
    their faces."""
    directed = {(int(a), int(b)) for f in faces for a, b in ((f[0], f[1]), (f[1], f[2]), (f[2], f[0]))}
    following = {a: b for (a, b) in directed if (b, a) not in directed}
    loops = []
    while following:
        start, _ = following.popitem()
        loop = [start]
        following[start] = _
        while following[loop[-1]] != start:
            loop.append(following.pop(loop[-1]))
        following.pop(loop[-1])
        first = loop.index(min(loop))  # canonical start: the same fan on mirrored meshes
        loops.append(loop[first:] + loop[:first])
    return loops


def close_boundaries(faces: np.ndarray) -> np.ndarray:
    """The faces plus a fan of triangles over every boundary loop (the wrist opening of the hand),
    wound to match their neighbours, so the mesh is closed: no see-through hole in renders, clean
    silhouettes, watertight exports. No vertex is added, so V stays Anny's."""
    caps = []
    for loop in boundary_loops(faces):
        caps += [(loop[0], loop[i + 1], loop[i]) for i in range(1, len(loop) - 1)]
    return np.concatenate([faces, np.asarray(caps, faces.dtype).reshape(-1, 3)])


def signed_volume(vertices: np.ndarray, faces: np.ndarray) -> float:
    """Signed volume enclosed by the (open) mesh about its centroid: > 0 for outward winding."""
    v = vertices - vertices.mean(0)
    a, b, c = v[faces[:, 0]], v[faces[:, 1]], v[faces[:, 2]]
    return float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6.0)
