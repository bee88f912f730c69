"""The project files agree with each other: dependencies, kernel name, CI entry point."""

from __future__ import annotations

import json
import re
import tomllib

import yaml

from casework.base import config


def _pyproject():
    return tomllib.loads((config.PROJ_ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _normalise(req: str) -> str:
    name, _, version = req.partition("==")
    return f"{name.strip().lower().replace('_', '-')}=={version.strip()}"


def test_environment_yml_lists_the_same_pinned_dependencies_as_pyproject():
    deps = {_normalise(d) for d in _pyproject()["project"]["dependencies"]}
    env = yaml.safe_load((config.PROJ_ROOT / "environment.yml").read_text(encoding="utf-8"))
    listed = set()
    for item in env["dependencies"]:
        if isinstance(item, dict):  # the pip: sub-list
            listed |= {_normalise(d) for d in item["pip"] if "==" in d}
        elif "==" in item:
            listed.add(_normalise(item))
    assert listed == deps


def test_every_dependency_is_pinned_exactly():
    for dep in _pyproject()["project"]["dependencies"]:
        assert re.fullmatch(r"[A-Za-z0-9_.\-]+==[0-9][0-9A-Za-z.\-]*", dep), dep


def test_ci_runs_the_readme_test_command_and_fails_on_no_tests():
    ci = (config.PROJ_ROOT / ".ci" / "run").read_text(encoding="utf-8")
    readme = (config.PROJ_ROOT / "README.md").read_text(encoding="utf-8")
    makefile = (config.PROJ_ROOT / "Makefile").read_text(encoding="utf-8")
    assert "make test" in ci and "make test" in readme and "make demo" in readme
    assert "-eq 5" in makefile  # pytest's "no tests collected" exit code is turned into a failure


def test_every_committed_notebook_uses_the_casework_kernel_and_has_no_outputs():
    notebooks = sorted(config.NOTEBOOKS_DIR.rglob("*.ipynb"))
    notebooks = [p for p in notebooks if ".ipynb_checkpoints" not in p.parts]
    for path in notebooks:
        nb = json.loads(path.read_text(encoding="utf-8"))
        assert nb["metadata"]["kernelspec"]["name"] == config.KERNEL_NAME, path
        assert not any(c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code"), path
