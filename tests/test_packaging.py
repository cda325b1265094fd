"""The light install: `pip install smhr` (no PyTorch) runs the demo, and a command that needs PyTorch
says in one line which extra adds it. PyTorch is hidden from a subprocess by an import blocker."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[1]
TRAIN_STACK = {"torch", "torchvision", "scipy", "roma", "tensorboard", "matplotlib", "onnx", "trimesh"}

BLOCKER = """
import sys
class _NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {names!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
sys.meta_path.insert(0, _NoTorch())
sys.argv = ["smhr", *sys.argv[1:]]
from smhr.cli import main
main()
"""


def _smhr_without(names, *args):
    code = BLOCKER.format(names=set(names))
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def _requirement_names(reqs):
    return {re.split(r"[<>=\[ ;]", r, maxsplit=1)[0].lower() for r in reqs}


def test_the_light_dependencies_leave_the_training_stack_to_the_train_extra():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    light = _requirement_names(project["dependencies"])
    assert "onnxruntime" in light and "numpy" in light and not light & TRAIN_STACK
    extras = project["optional-dependencies"]
    assert {"torch", "torchvision", "scipy", "roma"} <= _requirement_names(extras["train"])
    assert "smhr[train]" in extras["test"]
    assert project["scripts"]["smhr"] == "smhr.cli:main"  # the entry point that names the extra


def test_readme_main_command_is_the_light_install_and_ci_runs_its_test_command():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"```bash\n(python3 -m venv .*)\n```", readme)
    assert len(commands) == 2
    main, tests = commands
    assert "pip install -q --no-compile ." in main and "[" not in main and "smhr demo" in main
    assert "'.[test]'" in tests and "pytest" in tests
    assert tests in (ROOT / ".ci" / "run").read_text().splitlines()


def test_without_torch_the_demo_runs_and_torch_commands_name_the_extra(tmp_path):
    sample = ROOT / "src" / "smhr" / "assets" / "samples" / "multi_1.jpg"
    ok = _smhr_without(TRAIN_STACK, "demo", sample, "--out", tmp_path / "ort")
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "ort" / "multi_1.json").is_file() and "1 of 1 input(s) done" in ok.stdout
    for args in (["demo", sample, "--backend", "torch", "--out", tmp_path / "t"],
                 ["export", "--onnx", tmp_path / "x.onnx"],
                 ["train", "--stage", "1", "--set", f"out_dir={tmp_path / 'run'}"]):
        res = _smhr_without(TRAIN_STACK, *args)
        lines = res.stderr.strip().splitlines()
        assert res.returncode == 2 and len(lines) == 1, (args, res.stderr)
        assert "pip install 'smhr[train]'" in lines[0] and lines[0].startswith("error: "), lines
        assert not (tmp_path / "t").exists()
