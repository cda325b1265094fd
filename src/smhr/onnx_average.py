"""One ONNX file whose logits are the mean of several exported crop classifiers' logits.

Why: a crop classifier (`smhr.runtime.side_check`, `smhr.runtime.hand_check`) trained on the
teacher's keypoints and one trained also on the detector's own crops (`tools/train_side.py
--detector-views`) make different mistakes; their mean is one more opinion at the cost of one more
small network per crop, and as a single file it needs no change where the checks load and run it.
Each member is a graph with input "crops" and output "logits" (`smhr.onnx_export`); the members must
agree on the format and the crop (size, margin), since one crop is cut for all of them. The mean of
mirror-antisymmetric (side) or mirror-symmetric (hand) members keeps that property.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

__all__ = ["average_crop_classifiers"]

_SHARED = ("smhr_format", "smhr_crop_size", "smhr_crop_margin")


def average_crop_classifiers(paths: Sequence[str | Path], out: str | Path) -> Path:
    """Write to `out` the classifier whose logits are the mean of the members' at `paths` (2 or more
    exported crop classifiers of one format and crop); records `smhr_members` (their file names)."""
    import onnx
    from onnx import TensorProto, compose, helper

    if len(paths) < 2:
        raise ValueError(f"averaging needs at least 2 classifier files, got {len(paths)}")
    models = [onnx.load(str(p)) for p in paths]
    metas = [{m.key: m.value for m in model.metadata_props} for model in models]
    for path, meta, model in zip(paths, metas, models, strict=True):
        if any(meta.get(k) != metas[0].get(k) for k in _SHARED) or meta.get("smhr_format") is None:
            raise ValueError(f"{path}: format or crop ({', '.join(f'{k}={meta.get(k)}' for k in _SHARED)}) "
                             f"differs from {paths[0]}'s; average classifiers of one kind and crop only")
        names = ([i.name for i in model.graph.input], [o.name for o in model.graph.output])
        if names != (["crops"], ["logits"]):
            raise ValueError(f"{path}: inputs / outputs {names}, expected ['crops'] / ['logits']: export it "
                             "with smhr.onnx_export")
    members = [compose.add_prefix(model, f"m{k}_") for k, model in enumerate(models)]
    nodes = [helper.make_node("Identity", ["crops"], [f"m{k}_crops"]) for k in range(len(members))]
    initializers = [helper.make_tensor("member_share", TensorProto.FLOAT, [], [1.0 / len(members)])]
    for member in members:
        nodes += member.graph.node
        initializers += member.graph.initializer
    total = "m0_logits"
    for k in range(1, len(members)):
        nodes.append(helper.make_node("Add", [total, f"m{k}_logits"], [f"sum{k}"]))
        total = f"sum{k}"
    nodes.append(helper.make_node("Mul", [total, "member_share"], ["logits"]))
    first = models[0]
    graph = helper.make_graph(nodes, "mean_of_crop_classifiers", [first.graph.input[0]],
                              [first.graph.output[0]], initializer=initializers)  # fmt: skip
    model = helper.make_model(graph, opset_imports=first.opset_import)
    model.ir_version = first.ir_version
    for key in _SHARED:
        model.metadata_props.add(key=key, value=metas[0][key])
    model.metadata_props.add(key="smhr_members", value=", ".join(Path(p).name for p in paths))
    onnx.checker.check_model(model)
    out = Path(out)
    onnx.save(model, str(out))
    return out
