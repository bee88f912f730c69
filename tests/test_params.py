"""Sidecar parameters and run definitions: typing, validation, clear bilingual errors."""

from __future__ import annotations

import ast
import re
import shutil
from pathlib import Path

import nbformat
import pytest
import yaml

from casework.base import config
from casework.base.errors import ParameterError
from casework.notebook import params
from casework.run import report

TEMPLATES = params.discover()
CJK = re.compile(r"[\u4e00-\u9fff]")


def _bilingual(err: ParameterError) -> None:
    text = str(err)
    assert CJK.search(err.zh), err.zh
    assert re.search(r"[A-Za-z]{4,}", err.en), err.en
    assert "Traceback" not in text


# --------------------------------------------------------------------------------------------
# coerce / validate
# --------------------------------------------------------------------------------------------


class TestCoerce:
    def test_strings_stay_strings(self):
        spec = params.ParamSpec("unit", "string", default="all")
        assert params.coerce(spec, "0101") == "0101"
        assert params.coerce(spec, "0101", from_text=True) == "0101"  # -p unit=0101: no int guess

    def test_number_for_string_is_an_error_not_a_silent_conversion(self):
        spec = params.ParamSpec("unit", "string", default="all")
        with pytest.raises(ParameterError, match="加引号") as info:
            params.coerce(spec, 101)
        _bilingual(info.value)

    def test_period_is_canonicalised_and_checked(self):
        spec = params.ParamSpec("period", "period")
        assert params.coerce(spec, "2024q2") == "2024-Q2"
        assert params.coerce(spec, 2024) == "2024"  # an unquoted year is unambiguous
        with pytest.raises(ParameterError, match="统计期间"):
            params.coerce(spec, "2024-13")

    @pytest.mark.parametrize("text,expected",
                             [("true", True), ("是", True), ("0", False), ("否", False)])
    def test_bool_from_text(self, text, expected):
        assert params.coerce(params.ParamSpec("b", "bool"), text, from_text=True) is expected

    def test_bool_from_typed_text_is_rejected(self):
        with pytest.raises(ParameterError):
            params.coerce(params.ParamSpec("b", "bool"), "true")  # YAML "true" in quotes

    def test_int_and_float(self):
        assert params.coerce(params.ParamSpec("n", "int"), "12", from_text=True) == 12
        assert params.coerce(params.ParamSpec("x", "float"), 3) == 3.0
        with pytest.raises(ParameterError):
            params.coerce(params.ParamSpec("n", "int"), 2.5)
        with pytest.raises(ParameterError):
            params.coerce(params.ParamSpec("n", "int"), True)
        with pytest.raises(ParameterError):
            params.coerce(params.ParamSpec("n", "int"), "twelve", from_text=True)

    def test_choice(self):
        spec = params.ParamSpec("level", "choice", choices=("internal", "circulated"))
        assert params.coerce(spec, "circulated") == "circulated"
        with pytest.raises(ParameterError, match="internal, circulated"):
            params.coerce(spec, "public")

    def test_list(self):
        spec = params.ParamSpec("units", "list")
        assert params.coerce(spec, "0101,0102", from_text=True) == ["0101", "0102"]
        assert params.coerce(spec, ["a"]) == ["a"]
        with pytest.raises(ParameterError):
            params.coerce(spec, [101])


class TestValidate:
    def test_defaults_and_types(self):
        sc = params.load_sidecar("snapshot_overview")
        out = params.validate(sc, {"period": "2024-05"})
        assert out["unit"] == "all" and out["level"] == "internal"
        assert isinstance(out["months"], int) and isinstance(out["fields"], list)

    def test_unknown_parameter_lists_valid_ones_with_types_and_descriptions(self):
        sc = params.load_sidecar("snapshot_overview")
        with pytest.raises(ParameterError) as info:
            params.validate(sc, {"period": "2024-05", "colour": "red"})
        msg = str(info.value)
        assert "colour" in msg
        for name, spec in sc.parameters.items():
            assert name in msg and spec.type in msg and spec.description in msg
        _bilingual(info.value)

    def test_mistyped_parameter(self):
        sc = params.load_sidecar("snapshot_overview")
        with pytest.raises(ParameterError, match="months") as info:
            params.validate(sc, {"period": "2024-05", "months": "24"})
        assert "有效参数" in str(info.value)

    def test_missing_required(self, tmp_path):
        (tmp_path / "t.yaml").write_text(
            "title_zh: 测试\nparameters:\n  period: {type: period, "
            "description: 统计期间}\n", encoding="utf-8")
        (tmp_path / "t.ipynb").write_text("{}", encoding="utf-8")
        sc = params.load_sidecar("t", folder=tmp_path)
        with pytest.raises(ParameterError, match="缺少必填参数 period"):
            params.validate(sc, {})

    def test_unknown_template_lists_available(self):
        with pytest.raises(ParameterError) as info:
            params.load_sidecar("no_such_report")
        assert "snapshot_overview" in str(info.value)
        _bilingual(info.value)

    def test_assignments(self):
        assert params.parse_assignments(["a=1", "b=x=y"]) == {"a": "1", "b": "x=y"}
        with pytest.raises(ParameterError, match="key=value"):
            params.parse_assignments(["novalue"])


class TestRunnerValidatesBeforeKernel:
    """Bad parameters stop before papermill is ever called."""

    @pytest.fixture
    def no_kernel(self, monkeypatch, casework_home):
        def boom(*a, **k):  # pragma: no cover - reaching it is the failure
            raise AssertionError("a kernel was started for invalid parameters")

        monkeypatch.setattr(report, "_execute", boom)
        monkeypatch.setattr(report, "ensure_kernel", boom)

    @pytest.mark.parametrize("kw,match", [
        (dict(params_text=["colour=red"]), "colour"),
        (dict(params_text=["months=many"]), "months"),
        (dict(period="2024-13"), "统计期间"),
        (dict(level="public"), "level"),
        (dict(unit="../etc"), "单位编码"),
        (dict(params={"fields": "unit_code"}), "fields"),
    ])
    def test_invalid(self, no_kernel, kw, match):
        args = dict(period="2024-05", unit="all", level="internal")
        args.update(kw)
        with pytest.raises(ParameterError, match=match) as info:
            report.run("snapshot_overview", **args)
        _bilingual(info.value)
        assert not (config.reports_dir()).exists()

    def test_cli_bad_parameter_exits_2_without_traceback(self, no_kernel, capsys):
        from casework.run.cli import main

        with pytest.raises(SystemExit) as info:
            main(["run", "snapshot_overview", "--period", "2024-05", "-p", "colour=red"])
        assert info.value.code == 2
        err = capsys.readouterr().err
        assert "colour" in err and "有效参数" in err and "Traceback" not in err


# --------------------------------------------------------------------------------------------
# run definitions
# --------------------------------------------------------------------------------------------


def _write(tmp_path, text: str) -> Path:
    path = tmp_path / "2024-05.yaml"
    path.write_text(text, encoding="utf-8")
    return path


class TestRunDefinition:
    def test_committed_definitions_load(self):
        files = sorted((config.PARAMS_DIR / "monthly").glob("*.yaml"))
        assert files
        for f in files:
            d = params.load_run(f)
            assert d.templates and d.level in params.LEVELS

    def test_good(self, tmp_path):
        d = params.load_run(_write(tmp_path, 'period: "2024-05"\nunits: ["371302", "371311"]\n'
                                              "templates: [snapshot_overview]\nlevel: circulated\n"
                                              "params:\n  snapshot_overview: {months: 12}\n"))
        assert d.period == "2024-05" and d.units == ["371302", "371311"]
        assert d.templates == ["snapshot_overview"] and d.level == "circulated"
        assert d.params == {"snapshot_overview": {"months": 12}}

    def test_all_templates(self, tmp_path):
        d = params.load_run(_write(tmp_path, 'period: "2024-05"\n'))
        assert d.templates == TEMPLATES and d.units == "all"

    @pytest.mark.parametrize("text,match", [
        ('units: all\n', "缺少 period"),
        ('period: "2024-5x"\n', "统计期间"),
        ('period: "2024-05"\nunits: [371302, "371311"]\n', "带引号"),
        ('period: "2024-05"\nunits: {a: 1}\n', "units"),
        ('period: "2024-05"\nlevel: secret\n', "level"),
        ('period: "2024-05"\ntemplates: [no_such]\n', "未知模板 no_such"),
        ('period: "2024-05"\nworkers: 4\n', "未知键 workers"),
        ('period: "2024-05"\nparams:\n  snapshot_overview: {months: "x"}\n', "months"),
        ('period: "2024-05"\nparams:\n  snapshot_overview: {unit: "371302"}\n', "不能设置 unit"),
        ('period: "2024-05"\ntemplates: [snapshot_overview\n', "YAML"),
        ('- just\n- a list\n', "映射"),
    ])
    def test_bad(self, tmp_path, text, match):
        with pytest.raises(ParameterError, match=match) as info:
            params.load_run(_write(tmp_path, text))
        _bilingual(info.value)
        assert "2024-05.yaml" in str(info.value)  # names the file

    def test_missing_file(self, tmp_path):
        with pytest.raises(ParameterError, match="不存在"):
            params.load_run(tmp_path / "nope.yaml")

    def test_cli_bad_definition_exits_2(self, tmp_path, casework_home):
        import subprocess
        import sys

        path = _write(tmp_path, 'period: "2024-05"\nunits: [371302]\n')
        proc = subprocess.run([sys.executable, "-m", "casework.run.cli", "batch", str(path)],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2
        assert "带引号" in proc.stderr and "quoted" in proc.stderr
        assert "Traceback" not in proc.stderr


# --------------------------------------------------------------------------------------------
# committed notebooks and sidecars
# --------------------------------------------------------------------------------------------


def _notebooks():
    return sorted(config.NOTEBOOKS_DIR.rglob("*.ipynb"))


def _param_cell(nb):
    cells = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1, "exactly one cell tagged 'parameters'"
    return cells[0]


def _assignments(cell) -> dict:
    tree = ast.parse(cell.source)
    out = {}
    for node in tree.body:
        assert isinstance(node, ast.Assign) and len(node.targets) == 1, \
            f"parameters cell holds only `name = literal` lines: {ast.unparse(node)}"
        out[node.targets[0].id] = ast.literal_eval(node.value)  # literals only
    return out


@pytest.mark.parametrize("path", _notebooks(),
                         ids=lambda p: str(p.relative_to(config.NOTEBOOKS_DIR)))
def test_committed_notebook_kernel_and_no_outputs(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata.get("kernelspec", {}).get("name") == config.KERNEL_NAME
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: committed with outputs"
            assert cell.execution_count is None


@pytest.mark.parametrize("key", TEMPLATES)
def test_template_is_thin(key):
    """No def/class/loops/magics in report templates (the library does the work)."""
    nb = nbformat.read(config.TEMPLATES_DIR / f"{key}.ipynb", as_version=4)
    banned = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.For, ast.AsyncFor,
              ast.While)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for line in cell.source.splitlines():
            assert not line.lstrip().startswith(("%", "!")), f"{key}: magic or shell line {line!r}"
        tree = ast.parse(cell.source)
        for node in ast.walk(tree):
            assert not isinstance(node, banned), f"{key}: {type(node).__name__} in a template cell"


@pytest.mark.parametrize("key", TEMPLATES)
def test_sidecar_matches_parameters_cell(key):
    sc = params.load_sidecar(key)
    nb = nbformat.read(sc.notebook, as_version=4)
    cell_values = _assignments(_param_cell(nb))
    assert set(cell_values) == set(sc.parameters), "sidecar keys == parameters-cell keys"
    for name, spec in sc.parameters.items():  # the cell's literal is a valid value of the type
        params.coerce(spec, cell_values[name])
    assert CJK.search(sc.title_zh)
    assert all(CJK.search(p.description) for p in sc.parameters.values()), "Chinese descriptions"
    assert "period" in sc.parameters
    assert sc.parameters["level"].choices == ("internal", "circulated")


def test_templates_folder_is_configurable(tmp_path, monkeypatch):
    for suffix in (".ipynb", ".yaml"):
        shutil.copy(config.TEMPLATES_DIR / f"snapshot_overview{suffix}",
                    tmp_path / f"copy_one{suffix}")
    monkeypatch.setenv("CASEWORK_TEMPLATES", str(tmp_path))
    assert params.discover() == ["copy_one"]
    assert yaml.safe_load((tmp_path / "copy_one.yaml").read_text(encoding="utf-8"))["title_zh"]


def test_numeric_parameters_outside_their_sidecar_range_are_refused_before_a_kernel():
    sc = params.load_sidecar("horizontal_comparison")
    assert sc.parameters["min_n"].low == 1
    with pytest.raises(ParameterError, match="超出范围"):
        params.validate(sc, {"period": "2024-05", "min_n": "-5"}, from_text={"min_n"})
    with pytest.raises(ParameterError, match="超出范围"):
        params.validate(sc, {"period": "2024-05", "months": 0})
    ok = params.validate(sc, {"period": "2024-05", "min_n": "7"}, from_text={"min_n"})
    assert ok["min_n"] == 7
