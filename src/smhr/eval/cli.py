"""`smhr eval ...`: benchmark protocols, one sub-command per protocol module."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from smhr.io.messages import fail
from smhr.records import DEFAULT_THRESHOLD

eval_app = typer.Typer(no_args_is_help=True, add_completion=False,
                       help="Evaluate predictions on public benchmarks (official protocols).")


_PRED_HELP = "pred.json = \\[xyz_list (N,21,3), verts_list (N,V,3)], metres (official layout)."
_ROOT_HELP = "Folder holding evaluation_xyz.json and evaluation_verts.json."


@eval_app.callback()
def _eval_group() -> None:
    """Evaluate predictions on public benchmarks (official protocols)."""


@eval_app.command("freihand")
def freihand_cmd(
    root: Annotated[Path, typer.Option("--root", help=_ROOT_HELP)],
    pred: Annotated[Path | None, typer.Option("--pred", help=_PRED_HELP)] = None,
    checkpoint: Annotated[Path | None, typer.Option(
        "--checkpoint", help="Predict with this model.pt or .onnx first (instead of --pred).")] = None,
    write_pred: Annotated[Path | None, typer.Option(
        "--write-pred", help="pred.json written by --checkpoint (default: beside --out)")] = None,
    hand: Annotated[str | None, typer.Option("--hand", help="anny | mano (default: checkpoint's)")] = None,
    mano_dir: Annotated[Path | None, typer.Option("--mano-dir", help="Folder with MANO_*.pkl")] = None,
    device: Annotated[str, typer.Option("--device", help="cpu | cuda")] = "cpu",
    out: Annotated[Path | None, typer.Option("--out", help="Write the JSON report here.")] = None,
    curve: Annotated[Path | None, typer.Option("--curve", help="Write the 3D PCK curves (PNG) here.")] = None,
) -> None:
    """FreiHAND evaluation, numerically equal to the official lmb-freiburg/freihand eval.py, of a
    pred.json or of a checkpoint run over ROOT's evaluation split."""
    from smhr.eval import freihand, report

    if (pred is None) == (checkpoint is None):
        fail("pass exactly one of --pred pred.json or --checkpoint model.pt")
    keypoints = None  # a pred.json says nothing of its keypoints: scored against the joints as written
    try:
        if checkpoint is not None:
            from smhr.eval.predict import predict_freihand
            from smhr.runtime.reconstructor import Reconstructor

            rec = Reconstructor.from_pretrained(checkpoint, device, hand=hand, mano_dir=mano_dir)
            xyz, verts = predict_freihand(rec, root, progress=True)
            keypoints = rec.hand_models[1].keypoints
            pred = write_pred or ((out.parent if out is not None else Path(".")) / "pred.json")
            freihand.write_predictions(pred, xyz, verts)
            typer.echo(f"predictions: {pred}")
        res = freihand.evaluate_files(pred, root, progress=True, keypoints=keypoints)
    except (freihand.FreiHandInputError, ValueError, FileNotFoundError) as e:
        fail(e)
    s = res["summary"]

    def fmt(v: float | None, spec: str) -> str:
        return "n/a (not MANO topology)" if v is None else format(v, spec)

    typer.echo(f"FreiHAND: {res['num_samples']} samples, predicted mesh {res['pred_vertices']} vertices")
    typer.echo(f"  PA-MPJPE {s['pa_mpjpe_mm']:.2f} mm   AUC(joints, PA) {s['auc_joints_pa']:.4f}")
    typer.echo(f"  PA-MPVPE {fmt(s['pa_mpvpe_mm'], '.2f')} mm   "
               f"AUC(verts, PA) {fmt(s['auc_vertices_pa'], '.4f')}")
    typer.echo(f"  F@5mm {s['f@5mm']:.4f}   F@15mm {s['f@15mm']:.4f}")
    j = res["joints"]
    typer.echo(f"  MPJPE unaligned {j['unaligned']['mean_mm']:.2f} mm   "
               f"scale-translation aligned {j['scale_translation']['mean_mm']:.2f} mm")
    if out is not None:
        typer.echo(f"report: {report.write_json(res, out)}")
    if curve is not None:
        pck = res["pck"]
        jo, ve = res["joints"], res["vertices"]
        names = {"joints_procrustes": ("joints, PA", jo["procrustes"]["auc_0_50mm"]),
                 "joints_scale_translation": ("joints, sc-tr", jo["scale_translation"]["auc_0_50mm"])}
        if ve:
            names["vertices_procrustes"] = ("vertices, PA", ve["procrustes"]["auc_0_50mm"])
        curves = {label: pck[k] for k, (label, _) in names.items()}
        aucs = {label: a for label, a in names.values()}
        typer.echo(f"curve: {report.plot_pck(curves, pck['thresholds_mm'], curve, 'FreiHAND 3D PCK', aucs)}")




@eval_app.command("dataset")
def dataset_cmd(
    kind: Annotated[str, typer.Option("--kind", help="A registered dataset with a loader "
                                      "(`smhr list datasets`), e.g. freihand, rhd, labelled.")],
    root: Annotated[Path, typer.Option("--root", help="The dataset folder, in its original layout.")],
    checkpoint: Annotated[Path | None, typer.Option("--checkpoint", help="model.pt or .onnx "
                                                    "(default: the bundled weights).")] = None,
    split: Annotated[str | None, typer.Option("--split", help="Loader split (default: its "
                                              "evaluation split; composed sets have none).")] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="First N images only.")] = None,
    threshold: Annotated[float | None, typer.Option(
        "--threshold", min=0.0, max=1.0, help="Minimum detection score (default: the weights' calibrated "
        f"value, else {DEFAULT_THRESHOLD}).")] = None,
    device: Annotated[str, typer.Option("--device", help="auto | cpu | cuda")] = "auto",
    out: Annotated[Path | None, typer.Option("--out", help="Write the JSON report here.")] = None,
    curve: Annotated[Path | None, typer.Option("--curve", help="Write the 3D PCK curve (PNG) here.")] = None,
) -> None:
    """Run a model over a dataset loader and score detection, handedness, 2D and 3D accuracy with
    the dataset's protocol (docs/evaluation.md)."""
    from smhr.data.registry import DATASETS, open_dataset, openable
    from smhr.data.sample import DatasetLayoutError
    from smhr.eval import report
    from smhr.eval.protocols import evaluate_dataset
    from smhr.runtime.reconstructor import Reconstructor

    if kind not in openable():
        fail(f"--kind must be one of {', '.join(openable())}, got {kind!r}")
    protocol = DATASETS[kind].protocol
    try:
        dataset = open_dataset(kind, root, split)
        rec = Reconstructor.from_pretrained(checkpoint, device, threshold=threshold)
    except (DatasetLayoutError, FileNotFoundError, ValueError) as e:
        fail(e)
    res = evaluate_dataset(rec, dataset, protocol, limit, progress=True)
    shown = ("ap50", "recall", "precision", "duplicates", "handedness_accuracy", "kp2d_error_px",
             "pa_mpjpe_mm", "pck3d_auc_20_50mm", "mpjpe_root_relative_mm", "mrrpe_mm", "auc_pa_0_50mm")
    typer.echo(f"{kind} ({protocol}): {res['num_images']} images, {res['labelled_hands']} labelled hands")
    for k in shown:
        if res.get(k) is not None:
            typer.echo(f"  {k} {res[k]:.4g}")
    if out is not None:
        typer.echo(f"report: {report.write_json(res, out)}")
    if curve is not None and "pck3d_curve" in res:
        c = res["pck3d_curve"]
        png = report.plot_pck({kind: c["pck"]}, c["thresholds_mm"], curve, f"{kind} 3D PCK", {})
        typer.echo(f"curve: {png}")


@eval_app.command("ho3d-codalab")
def ho3d_codalab_cmd(
    root: Annotated[Path, typer.Option("--root", help="HO-3D root (evaluation.txt, evaluation/).")],
    out: Annotated[Path, typer.Option("--out", help="pred.json to write (zip it for Codalab).")],
    checkpoint: Annotated[Path | None, typer.Option("--checkpoint", help="model.pt or .onnx "
                                                    "(default: the bundled weights).")] = None,
    device: Annotated[str, typer.Option("--device", help="auto | cpu | cuda")] = "auto",
    limit: Annotated[int | None, typer.Option("--limit", min=1)] = None,
) -> None:
    """Write HO-3D's Codalab pred.json (OpenGL axes, HO-3D joint order) for the evaluation split."""
    from smhr.data.sample import DatasetLayoutError
    from smhr.eval.ho3d import write_codalab
    from smhr.runtime.reconstructor import Reconstructor

    try:
        rec = Reconstructor.from_pretrained(checkpoint, device, threshold=0.05)
        info = write_codalab(rec, root, out, limit, progress=True)
    except (DatasetLayoutError, FileNotFoundError, ValueError) as e:
        fail(e)
    typer.echo(f"wrote {out}: {info}")
    if not info["mano_topology"]:
        typer.echo("note: meshes are not MANO topology (778 vertices): Codalab's mesh scores will not apply")
