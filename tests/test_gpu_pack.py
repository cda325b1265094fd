"""tools/gpu_pack.py: the pack for a lent GPU keeps to its byte budget with the same share of every
set, rewrites the labels of the shrunk photos as the loader would, refuses test-only sets, and its
float16 weights load strictly into the network and as `init`."""

import hashlib
import json
import os
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from smhr.data.labelled import LabelledSet, write_labelled_set

REPO = Path(__file__).resolve().parents[1]


def _photo(path: Path, seed: int) -> bytes:
    import cv2

    small = np.random.default_rng(seed).integers(0, 255, (12, 16, 3), dtype=np.uint8)
    img = cv2.resize(small, (400, 300), interpolation=cv2.INTER_CUBIC)  # smooth, with some grain (bytes)
    img = np.clip(img + np.random.default_rng(seed).normal(0, 6, img.shape), 0, 255).astype(np.uint8)
    data = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return data


def _set(root: Path, name: str, n: int, role: str = "train") -> Path:
    records = []
    for i in range(n):
        rel = f"img/{i:03d}.jpg"
        data = _photo(root / "photos" / name / rel, seed=i + 100 * len(name))
        kp = np.stack([np.linspace(20, 380, 21), np.linspace(10, 290, 21)], 1).round(2).tolist()
        records.append({
            "path": rel, "sha256": hashlib.sha256(data).hexdigest(), "width": 400, "height": 300,
            "split": "test" if i == n - 1 else "train", "group": f"g{i // 2}",
            "hands": [{"side": i % 2, "box": [20, 10, 380, 290], "palm_box": [30, 60, 90, 140],
                       "keypoints2d": kp, "depth": [float(j) for j in range(21)], "world": [[0.0] * 3] * 21}],
            "ignore": [[1.0, 2.0, 50.0, 60.0]] if i % 3 == 0 else [], "source_boxes": None,
        })  # fmt: skip
    meta = {"source": {"name": name, "repo": "", "commit": "", "licence": "", "url": ""}, "role": role,
            "image_root": str(root / "photos" / name), "teacher": {}, "split": {}, "counts": {}}  # fmt: skip
    return write_labelled_set(root / "labels" / name, meta, records)


def _config(root: Path, labelled: list[Path]) -> Path:
    synth = root / "synth-x"
    (synth / "training" / "rgb").mkdir(parents=True)
    (synth / "training" / "rgb" / "00000000.jpg").write_bytes(b"first")
    (synth / "meta.json").write_text(json.dumps({
        "generator": "smhr synth", "count": {"training": 40}, "res": 64, "side": "right", "seed": 5,
        "hand_model": "anny", "switches": {"arm_prob": 0.5, "glove_prob": 0.0, "low_light_prob": 0.0,
                                                       "palm_cue_prob": 0.25},
    }))  # fmt: skip
    cfg = {"data": {"kind": "mixture", "shared": {"backgrounds": {"roots": [str(labelled[0])]}}, "mixture": [
        {"kind": "labelled", "roots": [str(p) for p in labelled]},
        {"kind": "composed", "roots": [str(synth)]}]}, "optim": {"batch_size": 16, "steps": 100}}  # fmt: skip
    path = root / f"cfg{len(labelled)}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _pack(tiny_weights, config, out, budget_mb=None):
    from gpu_pack import main

    wheel = out.parent / "roma-0.0-py3-none-any.whl"
    wheel.write_bytes(b"wheel")
    argv = ["--weights", str(tiny_weights), "--config", str(config), "--out", str(out), "--max-side", "200",
            "--repo", str(REPO), "--wheel", str(wheel)]  # fmt: skip
    return main(argv + (["--budget-mb", str(budget_mb)] if budget_mb else []))


def test_pack_keeps_its_budget_and_shares_and_rewrites_labels_like_the_loader(tmp_path, tiny_weights):
    alpha, beta = _set(tmp_path, "alpha", 13), _set(tmp_path, "beta", 7)
    config = _config(tmp_path, [alpha, beta])
    full = _pack(tiny_weights, config, tmp_path / "full")
    assert {k: v["images"] for k, v in full["real"].items()} == {"alpha": 12, "beta": 6}  # train split only
    data_bytes = sum(v["bytes"] for v in full["real"].values())
    budget = full["pack_bytes"] - data_bytes // 2
    report = _pack(tiny_weights, config, tmp_path / "gpu", budget_mb=budget / 1e6)
    out = tmp_path / "gpu"
    on_disk = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    assert on_disk <= report["budget_bytes"] == int(budget / 1e6 * 1e6) and report["pack_bytes"] >= on_disk
    got = {k: v["images"] for k, v in report["real"].items()}
    assert 0 < got["alpha"] < 12 and 0 < got["beta"] < 6
    assert abs(got["alpha"] / 12 - got["beta"] / 6) <= 1 / 6 + 1e-9  # the same share of each set
    assert report["device_total_bytes"] == report["tree_bytes"] + report["pack_bytes"]
    assert report["synth_regenerate"] == [{
        "root": str(tmp_path / "synth-x"), "out": str(out / "synth" / "synth-x"), "n": 40, "res": 64,
        "side": "right", "seed": 5, "hand": "anny", "arm_prob": 0.5, "glove_prob": 0.0, "low_light_prob": 0.0,
        "palm_cue_prob": 0.25, "first_sha256": hashlib.sha256(b"first").hexdigest(),
        "images_sha256": None}]  # fmt: skip
    # the packed labels read back as the loader's own downscaling of the originals (photos re-encoded)
    packed, original = LabelledSet(out / "labels" / "alpha"), LabelledSet(alpha, max_side=200)
    assert len({r["group"] for r in packed.records}) == len(packed)  # one per near-duplicate group first
    index = {r["path"]: i for i, r in enumerate(original.records)}
    for i in range(len(packed)):
        a, b = packed.load(i), original.load(index[packed.records[i]["path"]])
        assert a.image.shape == b.image.shape == (150, 200, 3)
        assert np.abs(a.image.astype(int) - b.image.astype(int)).mean() < 4  # re-encoded at q75
        np.testing.assert_allclose(a.hands[0].keypoints2d, b.hands[0].keypoints2d, atol=0.006)
        np.testing.assert_allclose(a.hands[0].bbox, b.hands[0].bbox, atol=0.006)
        np.testing.assert_allclose(a.ignore, b.ignore, atol=0.006)
        assert packed.records[i]["sha256"] == hashlib.sha256(packed.image_path(i).read_bytes()).hexdigest()


def test_pack_refuses_test_only_sets_and_a_budget_over_the_device_limit(tmp_path, tiny_weights, capsys):
    held_out = _set(tmp_path, "held-out", 3, role="test")
    config = _config(tmp_path, [_set(tmp_path, "alpha", 3), held_out])
    with pytest.raises(SystemExit):
        _pack(tiny_weights, config, tmp_path / "gpu")
    assert f"{held_out}: test-only labelled set(s)" in capsys.readouterr().err
    assert not (tmp_path / "gpu").exists()
    with pytest.raises(SystemExit):
        other = tmp_path / "b"
        _pack(tiny_weights, _config(other, [_set(other, "alpha", 3)]), other / "gpu", budget_mb=80)
    assert "MB fit in the device's 64 MiB; lower it" in capsys.readouterr().err


def test_float16_weights_load_strictly_and_as_init(tmp_path, tiny_weights):
    from gpu_pack import pack_weights

    from smhr.model.net import SMHRNet
    from smhr.train.checkpoint import load_init_weights

    report = pack_weights(tiny_weights, tmp_path / "start.pt")
    state = torch.load(tmp_path / "start.pt", weights_only=True)
    dtypes = {k: v.dtype for k, v in state["model"].items()}
    assert all(dtypes[k] == torch.float32 for k in dtypes if k.endswith("running_var"))
    assert sum(v == torch.float16 for v in dtypes.values()) > len(dtypes) // 2
    net = SMHRNet.from_checkpoint(tmp_path / "start.pt")  # strict load, cast back to float32
    assert all(p.dtype == torch.float32 for p in net.parameters())
    ref = SMHRNet.from_checkpoint(tiny_weights)
    assert load_init_weights(ref, tmp_path / "start.pt") == []  # init: every tensor, none fresh
    assert 0 < report["max_weight_rel_change"] < 1e-3 and report["max_output_rel_change"] < 1e-2
    assert report["bytes"] < 0.6 * Path(tiny_weights).stat().st_size


def test_the_gpu_config_trains_what_the_cpu_run_trains():
    """configs/v3-gpu.yaml = configs/v3-cpu.yaml on the packed roots, batch and lr by the stated
    square-root rule, the weight average over as many samples, and the schedule of gpu_continue's
    plan for a start at 25,600 samples."""
    from gpu_continue import plan

    cpu, gpu = (yaml.safe_load((REPO / "configs" / f"v3-{k}.yaml").read_text()) for k in ("cpu", "gpu"))
    for key in ("stage", "hand", "model", "loss_weights", "seed"):
        assert gpu[key] == cpu[key], key
    assert gpu["init"] == "gpu/start.pt"
    for a, b in zip(cpu["data"]["mixture"], gpu["data"]["mixture"], strict=True):
        where = "gpu/synth/" if a["kind"] == "composed" else "gpu/labels/"
        assert b["roots"] == [where + Path(r).name for r in a["roots"]]
        assert {k: v for k, v in a.items() if k != "roots"} == {k: v for k, v in b.items() if k != "roots"}
    bg = cpu["data"]["shared"]["backgrounds"]
    packed = ["gpu/labels/" + Path(r).name for r in bg["roots"]]
    assert gpu["data"]["shared"]["backgrounds"] == {**bg, "roots": packed}
    c, g = cpu["optim"], gpu["optim"]
    assert g["lr"] == pytest.approx(c["lr"] * (g["batch_size"] / c["batch_size"]) ** 0.5, rel=1e-3)
    # the weight average spans the same number of samples
    assert 1 - g["ema_decay"] == pytest.approx((1 - c["ema_decay"]) * g["batch_size"] / c["batch_size"])
    pack = {"config": str(REPO / "configs" / "v3-cpu.yaml"), "weights": {"samples": 25600}}
    p = plan(pack, gpu, g["batch_size"])
    assert (p["steps"], p["lr_steps"]) == (g["steps"], g["lr_steps"])
    assert p["target_samples"] == c["steps"] * c["batch_size"] == 550400
    assert cpu["amp"] == "bf16" and gpu["amp"] == "auto"  # both train in bf16 (auto = bf16 on CUDA)


def test_the_gpu_appearance_config_is_the_geometry_one_with_the_appearance_terms():
    """configs/v3-gpu-appearance.yaml: v3-gpu's network and data, real-cpu-appearance's terms and
    24,000 samples at the same square-root lr rule."""
    gpu, app, old = (yaml.safe_load((REPO / "configs" / f"{k}.yaml").read_text())
                     for k in ("v3-gpu", "v3-gpu-appearance", "real-cpu-appearance"))  # fmt: skip
    assert app["model"] == gpu["model"] and app["data"] == gpu["data"]
    assert app["render_size"] == old["render_size"] == 128
    assert app["loss_weights"] == {**gpu["loss_weights"], "photometric": 100.0, "silhouette": 20.0}
    o, a = old["optim"], app["optim"]
    assert a["steps"] * a["batch_size"] == pytest.approx(o["steps"] * o["batch_size"], rel=0.01)
    assert a["lr"] == pytest.approx(o["lr"] * (a["batch_size"] / o["batch_size"]) ** 0.5, rel=1e-3)
    assert a["lr_steps"][0] / a["steps"] == pytest.approx(o["lr_steps"][0] / o["steps"], abs=0.01)


@pytest.mark.parametrize("run", ["v3", "v4"])
def test_the_cpu_appearance_config_is_its_run_with_the_shipped_appearance_phase(run):
    """configs/vN-cpu-appearance.yaml: vN-cpu's network and mixture (refinement on, so its weights
    load strictly), the shipped phase B's terms, render size and schedule."""
    cpu, app, old = (yaml.safe_load((REPO / "configs" / f"{k}.yaml").read_text())
                     for k in (f"{run}-cpu", f"{run}-cpu-appearance", "real-cpu-appearance"))  # fmt: skip
    assert app["model"] == cpu["model"] and app["model"]["refine"] is True
    assert app["data"] == cpu["data"] and app["hand"] == cpu["hand"]
    assert app["render_size"] == old["render_size"] == 128
    assert app["loss_weights"] == {**cpu["loss_weights"], "photometric": 100.0, "silhouette": 20.0}
    assert {k: app["optim"][k] for k in ("steps", "lr_steps", "lr", "batch_size")} == {
        k: old["optim"][k] for k in ("steps", "lr_steps", "lr", "batch_size")}
    assert 0 < app["optim"]["ema_decay"] < cpu["optim"]["ema_decay"]  # a shorter average for a short phase


def test_v4_is_v3_with_the_close_ups_from_the_first_step():
    """configs/v4-cpu.yaml changes v3's recipe in its mixture only: v3b's close-ups at 0.15, taken
    from the real composites; network, schedule, losses and the other kinds are v3's."""
    v3, v4, v3b = (yaml.safe_load((REPO / "configs" / f"{k}.yaml").read_text())
                   for k in ("v3-cpu", "v4-cpu", "v3b-closeup"))  # fmt: skip
    for key in ("model", "optim", "loss_weights", "init", "hand", "amp"):
        assert v4[key] == v3[key], key
    def by_source(cfg):  # two entries share a kind (labelled scenes, labelled people photos)
        return {(m["kind"], tuple(m["roots"])): m for m in cfg["data"]["mixture"]}

    kinds3, kinds4 = by_source(v3), by_source(v4)
    closeup = next(m for m in v3b["data"]["mixture"] if m["kind"] == "closeup_labelled")
    assert kinds4.pop(("closeup_labelled", tuple(closeup["roots"]))) == closeup
    composites = ("composed_labelled", tuple(closeup["roots"]))
    assert kinds4[composites]["weight"] == kinds3[composites]["weight"] - closeup["weight"]
    kinds3[composites] = {**kinds3[composites], "weight": kinds4[composites]["weight"]}
    assert kinds4 == kinds3
    total = [sum(m["weight"] for m in c["data"]["mixture"]) for c in (v3, v4)]
    assert total[1] == pytest.approx(total[0])  # the weights are relative: every other kind keeps its share


def test_a_synthetic_rebuild_past_its_deadline_stops_and_leaves_no_renderer_running(tmp_path):
    """The device call has 10 minutes in all: a rebuild that would eat them is stopped with a one-line
    reason naming the set and the fix, and every `smhr synth` it started is gone."""
    from gpu_continue import regenerate_synth

    spec = {"out": str(tmp_path / "synth-base"), "n": 100000, "res": 224, "side": "right", "seed": 1,
            "hand": "anny", "arm_prob": 0.0, "glove_prob": 0.0, "low_light_prob": 0.0, "palm_cue_prob": 0.0}
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    t = time.monotonic()
    with pytest.raises(SystemExit, match=r"synth-base: not done after 1 s .* lower --synth-n or raise"):
        regenerate_synth([spec, {**spec, "out": str(tmp_path / "synth-arm")}], env, None, 2, deadline_s=1.0)
    assert time.monotonic() - t < 20
    left = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True).stdout.split()
    assert left == []
