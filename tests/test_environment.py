"""The project files agree with each other: dependencies, kernel name, CI entry point."""

from __future__ import annotations

import json
import re
import tomllib

import yaml

from casework.base import config


def _pyproject():
    return tomllib.loads((config.PROJ_ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[ ;]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _lock() -> dict:
    out = {}
    for line in (config.PROJ_ROOT / "requirements.lock").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            out[_name(name)] = version.strip()
    return out


def _all_requirements() -> list[str]:
    project = _pyproject()["project"]
    reqs = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        reqs += extra
    return reqs


def test_dependencies_are_ranges_whose_lowest_version_is_the_locked_one():
    lock = _lock()
    for dep in _all_requirements():
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)>=([0-9][0-9A-Za-z.\-]*),<([0-9][0-9.]*)", dep)
        assert m, f"{dep}: write name>=lowest-tested,<next-major"
        assert lock.get(_name(m.group(1))) == m.group(2), dep


def test_environment_yml_lists_every_dependency_at_its_locked_version():
    lock = _lock()
    env = yaml.safe_load((config.PROJ_ROOT / "environment.yml").read_text(encoding="utf-8"))
    listed = {}
    for item in env["dependencies"]:
        items = item["pip"] if isinstance(item, dict) else [item]
        for d in items:
            if "==" in d:
                name, _, version = d.partition("==")
                listed[_name(name)] = version.strip()
    assert listed == {_name(d): lock[_name(d)] for d in _all_requirements()}


def test_the_makefile_installs_from_the_lock_file():
    makefile = (config.PROJ_ROOT / "Makefile").read_text(encoding="utf-8")
    assert "-r requirements.lock" in makefile
    assert "$(STAMP): pyproject.toml requirements.lock" in makefile


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
