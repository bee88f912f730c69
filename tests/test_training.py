"""casework.training and the training notebooks.

* Every check is judged on the learner's own data: the right answer (computed here, mostly with
  plain pandas, independently of the check) passes on two seeds, a deliberately wrong one fails
  — usually with the hint for that mistake — and seed A's answer is judged wrong on seed B
  wherever the true values differ.
* The final exercises accept the planted pattern (read from the generator's manifest here, never
  by the check) and reject it on data with nothing planted, where "无" is right.
* All twelve notebooks execute on the ``casework`` kernel: the solutions get 正确 for every
  exercise, the exercise notebooks show 尚未作答 without raising.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

from casework import store, training
from casework.analysis import casemix, funnels, panel, periods, quality
from casework.analysis import modifications as mods
from casework.analysis.topics import recurring, sentencing
from casework.base import config
from casework.base.errors import ParameterError
from casework.ingest import mapping
from casework.training.data import read_index

SEED_A, SEED_B = 7, 2
EXERCISE_DIR = config.TRAINING_DIR
SOLUTION_DIR = config.TRAINING_DIR / "solutions"
NOTEBOOKS = sorted(p.name for p in EXERCISE_DIR.glob("0*.ipynb"))
_ENV = ("CASEWORK_HOME", training.HOME_ENV, training.SEED_ENV, "CASEWORK_USER")


@contextlib.contextmanager
def _isolated_env(home: Path):
    """CASEWORK_HOME at ``home`` for the block; the variables training sets are restored after."""
    saved = {k: os.environ.get(k) for k in _ENV}
    os.environ["CASEWORK_HOME"] = str(home)
    os.environ["CASEWORK_USER"] = "trainee"
    os.environ.pop(training.HOME_ENV, None)
    os.environ.pop(training.SEED_ENV, None)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="session")
def shared_home(tmp_path_factory):
    """One CASEWORK_HOME for the whole run whose training store holds the default data set and
    the test seeds. Under xdist the workers share it: the first generates (under a lock), the
    others only read."""
    import fcntl

    base = tmp_path_factory.getbasetemp()
    home = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "training_shared"
    home.mkdir(exist_ok=True)
    with open(home / ".lock", "w") as lock, _isolated_env(home):
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            training.load()
            training.load(seed=SEED_A)
            training.load(seed=SEED_B)
            training.load(seed=SEED_A, null=True)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return home


@pytest.fixture(scope="module")
def sets(shared_home, tmp_path_factory):
    """Training data for seeds A and B, seed A with nothing planted, and the session-01 files."""
    folder = tmp_path_factory.mktemp("training_exports")
    with _isolated_env(shared_home):
        out = {
            "A": training.load(seed=SEED_A),
            "B": training.load(seed=SEED_B),
            "null": training.load(seed=SEED_A, null=True),
            "exA": training.exports(seed=SEED_A, folder=folder / "a"),
            "exB": training.exports(seed=SEED_B, folder=folder / "b"),
        }
    return out


#: Tests using the generated data sets (grouped on one xdist worker where grouping works).
uses_sets = pytest.mark.xdist_group("training")


def _ok(code, answer, data):
    fb = training.check(code, answer, data)
    assert fb.correct is True, (code, answer, fb.message)
    return fb


def _wrong(code, answer, data, hint=None):
    fb = training.check(code, answer, data)
    assert fb.correct is False, (code, answer, fb.message)
    if hint is not None:
        assert hint in fb.message, (code, fb.message)
    return fb


def _in(frame: pd.DataFrame, column: str, period) -> pd.Series:
    p = periods.parse(period)
    d = pd.to_datetime(frame[column])
    return ((d >= p.start) & (d <= p.end)).fillna(False).to_numpy()


# ---------------------------------------------------------------------------------------------
# the module's own behaviour
# ---------------------------------------------------------------------------------------------


def test_unanswered_is_neither_right_nor_wrong():
    for code in training.exercises()["exercise"]:
        fb = training.check(code, None, None)
        assert fb.correct is None and "尚未作答" in fb._repr_markdown_()


@uses_sets
def test_unknown_exercise_and_wrong_data_are_clear_errors(sets):
    with pytest.raises(ParameterError, match="没有练习"):
        training.check("09.9", 1, sets["A"])
    with pytest.raises(ParameterError, match="training.exports"):
        training.check("01.1", 1, sets["A"])


@uses_sets
def test_an_answer_of_the_wrong_shape_is_explained(sets):
    fb = training.check("02.1", "很高", sets["A"])
    assert fb.correct is False and "形式不对" in fb.message
    fb = training.check("02.5", [1, 2], sets["A"])
    assert fb.correct is False and "一列" in fb.message


def test_every_session_has_five_exercises_and_a_final_detection():
    ex = training.exercises()
    assert ex.groupby("session").size().to_dict() == {s: 5 for s in training.SESSIONS}
    assert all(f"{s}.5" in set(ex["exercise"]) for s in ("03", "04", "05", "06"))


def test_load_writes_once_into_the_training_store_and_reads_through_the_audit_log(tmp_path):
    with _isolated_env(tmp_path):
        first = training.load(seed=SEED_A)
        again = training.load(seed=SEED_A)
        snaps = store.snapshots()
        log = store.audit_entries()
        train_home = training.home()
    assert first.snapshot == again.snapshot and len(snaps) == 1  # generated once, then only read
    assert train_home == (tmp_path / "data" / "training").resolve()
    assert not (tmp_path / "data" / "snapshots").exists()  # the analyst's own store is untouched
    assert len(log) == 6 and log["purpose"].str.startswith("培训").all()  # 3 tables × 2 loads
    assert set(log["table"]) == {"records", "modifications", "journeys"}
    assert first.records.equals(again.records)
    assert (first.start, first.end, first.year, first.quarter) == ("2022-01", "2024-12", "2024",
                                                                   "2024-Q4")


@uses_sets
def test_load_reads_the_generators_data(sets, synth_small):
    """Seed A has the conftest's arguments: the store round trip returns the same cards."""
    got = sets["A"].records.sort_values(["stage", "dept_case_no",
                                         "person_id"]).reset_index(drop=True)
    want = synth_small.records.sort_values(["stage", "dept_case_no",
                                            "person_id"]).reset_index(drop=True)
    assert len(got) == len(want)
    assert got["dept_case_no"].equals(want["dept_case_no"])
    assert got["decision"].astype("string").fillna("").equals(
        want["decision"].astype("string").fillna(""))


def test_judge_number_tolerances():
    assert training.judge_number("23.46%", 0.2346, kind="rate")[0]
    assert training.judge_number(0.235, 0.2346, kind="rate")[0]  # rounded to a tenth of a per cent
    assert not training.judge_number(0.24, 0.2346, kind="rate")[0]
    ok, hint = training.judge_number(-2.4, 2.4, kind="pp")
    assert not ok and "方向反了" in hint
    ok, hint = training.judge_number(0.024, 2.4, kind="pp")
    assert not ok and "百分点" in hint


# ---------------------------------------------------------------------------------------------
# session 01: files
# ---------------------------------------------------------------------------------------------


def _raw(path) -> pd.DataFrame:
    return pd.read_csv(path, encoding="gb18030", dtype=str, keep_default_na=False)


def _dates(text: pd.Series) -> pd.Series:
    """The export's date cells (2024-05-03, 2024/5/3, 2024年5月3日) as dates."""
    norm = text.str.replace(r"[年月/]", "-", regex=True).str.replace("日", "", regex=False)
    return pd.to_datetime(norm, format="%Y-%m-%d", errors="coerce")


def _renamed_mapping(ex) -> dict:
    """The mapping this seed's practice file needs, found by comparing its headers with the
    export's (the file keeps the column order)."""
    orig, ren = _raw(ex.files["prosecution_review"]).columns, _raw(ex.renamed).columns
    return {"columns": {mapping.match_header(o, "records"): r
                        for o, r in zip(orig, ren) if o != r}}


@uses_sets
def test_session01_checks(sets):
    for key in ("exA", "exB"):
        ex = sets[key]
        pros = _raw(ex.files["prosecution_review"])
        _ok("01.1", len(pros), ex)
        _wrong("01.1", len(pros) + 1, ex, "表头")
        _wrong("01.1", pros["部门受案号"].nunique(), ex, "件")
        _ok("01.2", "GB18030", ex)
        _ok("01.2", "gbk", ex)
        _wrong("01.2", "UTF-8", ex)
        arrest = _raw(ex.files["arrest_review"])
        acc, clo = _dates(arrest["受理日期"]), _dates(arrest["审结日期"])
        rows = (np.flatnonzero((clo < acc).fillna(False).to_numpy()) + 2).tolist()
        assert rows, "the export should carry a card closed before it was accepted"
        _ok("01.3", rows, ex)
        _wrong("01.3", [r - 2 for r in rows], ex, "索引")
        m = _renamed_mapping(ex)
        assert len(m["columns"]) == 2
        _ok("01.4", m, ex)
        _wrong("01.4", {"columns": {}}, ex, "还不能导入")
        damaged = [c for c in pros.columns if not pros[c].equals(_raw(ex.broken)[c])]
        assert len(damaged) == 1
        _ok("01.5", damaged[0], ex)
        _wrong("01.5", "罪名", ex)
    # data-driven: seed A's minimal mapping does not fit seed B's file
    ma, mb = _renamed_mapping(sets["exA"]), _renamed_mapping(sets["exB"])
    assert ma != mb
    _wrong("01.4", ma, sets["exB"])


# ---------------------------------------------------------------------------------------------
# sessions 02–06: values computed here, mostly with plain pandas
# ---------------------------------------------------------------------------------------------


def _right_02(d) -> dict:
    r, j, y = d.records, d.journeys, d.year
    ar = r[(r["stage"] == "arrest_review").to_numpy() & _in(r, "closed_on", y)]
    ar = ar[ar["decision"].isin(["arrest_approved", "non_arrest"]).fillna(False).to_numpy()]
    pr = r[(r["stage"] == "prosecution_review").to_numpy() & _in(r, "closed_on", y)]
    decided = pr[pr["decision"].isin(["prosecute", "non_prosecution"]).fillna(False).to_numpy()]
    np_cases = decided.loc[(decided["decision"] == "non_prosecution").to_numpy(),
                           "dept_case_no"].nunique()
    jj = j[j["arrested_on"].notna().to_numpy() & _in(j, "prosecution_closed_on", y)]
    prosecuted = pr[(pr["decision"] == "prosecute").fillna(False).to_numpy()]
    rate_a = (ar["decision"] == "arrest_approved").sum() / len(decided)
    rate_b = prosecuted["detained"].fillna(False).astype(bool).mean()
    return {
        "02.1": ((ar["decision"] == "non_arrest").mean(),
                 ar.loc[(ar["decision"] == "non_arrest").to_numpy(), "dept_case_no"].nunique()
                 / ar["dept_case_no"].nunique(), "件"),
        "02.2": (np_cases / decided["dept_case_no"].nunique(),
                 (decided["decision"] == "non_prosecution").mean(), "人数"),
        "02.3": ((jj["prosecution_decision"] == "non_prosecution").mean(),
                 (jj["prosecution_decision"] == "non_prosecution").sum()
                 / _in(j, "arrested_on", y).sum(),
                 "分母"),
        "02.4": ((rate_a - rate_b) * 100, (rate_b - rate_a) * 100, "减反"),
        "02.5": (pr["dept_case_no"].nunique(), len(pr), "人数"),
    }


def _right_03(d) -> dict:
    r, q = d.records, d.quarter
    cur, prev, ago = periods.parse(q), periods.parse(q).previous(), periods.parse(q).year_ago()
    pr = r[(r["stage"] == "prosecution_review").to_numpy()]
    n = {p.code: _in(pr, "accepted_on", p.code).sum() for p in (cur, prev, ago)}
    ar = r[(r["stage"] == "arrest_review").to_numpy()]
    ar = ar[ar["decision"].isin(["arrest_approved", "non_arrest"]).fillna(False).to_numpy()]
    rate = {p.code: (ar.loc[_in(ar, "closed_on", p.code), "decision"] == "non_arrest").mean()
            for p in (cur, prev)}
    pp = (rate[cur.code] - rate[prev.code]) * 100
    notable = bool(panel.compute(r, indicators="non_arrest_rate",
                                 period=q)["previous_notable"].iloc[0])
    return {
        "03.2": ((n[cur.code] - n[ago.code]) / n[ago.code] * 100,
                 (n[cur.code] - n[prev.code]) / n[prev.code] * 100, "环比"),
        "03.3": (pp, (rate[cur.code] - rate[prev.code]) / rate[prev.code] * 100, "相对变化"),
        "03.4": (notable, not notable, None),
    }


def _right_04(d) -> dict:
    r, y = d.records, d.year
    keys = ["unit_code", "department"]
    pr = r[(r["stage"] == "prosecution_review").to_numpy() & _in(r, "closed_on", y)]
    pr = pr[pr["decision"].isin(["prosecute", "non_prosecution"]).fillna(False).to_numpy()]
    g = (pr.assign(np_=(pr["decision"] == "non_prosecution")).groupby(keys)["np_"]
         .agg(["sum", "size", "mean"]))
    top = g.sort_values("mean", ascending=False).iloc[0]
    frame = g.reset_index().rename(columns={"sum": "numerator", "size": "denominator"})
    fu = funnels.funnel(frame, by=keys)
    h = casemix.horizontal(r, period=y, by=keys, indicators=["non_prosecution_rate"])
    sh = funnels.shrink(frame, by=keys).sort_values("value", ascending=False).iloc[0]
    return {
        "04.1": (int(top["size"]), int(top["sum"]), "分子"),
        "04.2": (int((fu["flag"] == "alarm").sum()), int((fu["flag"] != "").sum()), "95%"),
        "04.3": (int((h["flag"] == "alarm").sum()), int((fu["flag"] == "alarm").sum()), "未调整"),
        "04.4": (int(sh["rank_upper"]), int(sh["rank_lower"]), "下限"),
    }


def _right_05(d) -> dict:
    r, y = d.records, d.year
    pr = r[(r["stage"] == "prosecution_review").to_numpy() & _in(r, "accepted_on", y)]
    counts = pr["charge"].value_counts()
    prof = recurring.profile(recurring.topic_cases(r, charges="盗窃", period=y),
                             dimensions=["household"])
    nonlocal_ = prof.set_index("category_zh")
    j = sentencing.judgments(r, period=y, charges="危险驾驶")
    custodial = j[j["principal_penalty"].isin(["criminal_detention", "fixed_term"]).to_numpy()
                  & j["probation"].notna().to_numpy()]
    prob = custodial["probation"].astype(bool).mean()
    return {
        "05.1": (counts.index[0], counts.index[1], None),
        "05.2": (nonlocal_.loc["外地", "topic_share"], nonlocal_.loc["本地", "topic_share"],
                 "本地"),
        "05.3": (prob, 1 - prob, "未适用"),
    }


def _right_06(d) -> dict:
    r, y = d.records, d.year
    f = quality.run_rules(r)
    months = {m.code for m in periods.parse(y).months()}
    month = (pd.to_datetime(r["closed_on"]).fillna(pd.to_datetime(r["accepted_on"]))
             .dt.strftime("%Y-%m"))
    cards = r[month.isin(months).to_numpy()]
    err = f[(f["severity"] == "error").to_numpy() & f["month"].isin(months).to_numpy()]
    faulty = err[["unit_code", "stage", "dept_case_no", "person_id"]].drop_duplicates()
    top_rule = err["rule_id"].value_counts()
    flags = mods.audit(d.modifications, r)
    cc = flags[flags["flag"] == "closed_case_edit"]
    return {
        "06.1": (len(faulty), len(err), "问题条数"),
        "06.2": (top_rule.index[0], top_rule.index[-1], None),
        "06.3": (len(faulty) / len(cards), len(err) / len(cards), "问题条数"),
        "06.4": (len(cc), cc["dept_case_no"].nunique(), "案件数"),
    }


@uses_sets
@pytest.mark.parametrize("session", ["02", "03", "04", "05", "06"])
def test_checks_pass_right_answers_and_fail_wrong_ones_on_two_seeds(sets, session):
    fn = {"02": _right_02, "03": _right_03, "04": _right_04, "05": _right_05,
          "06": _right_06}[session]
    truths = {}
    for key in ("A", "B"):
        d = sets[key]
        truths[key] = fn(d)
        for code, (right, wrong, hint) in truths[key].items():
            _ok(code, right, d)
            if wrong != right:  # e.g. a rank interval of one place: no distinct wrong value
                _wrong(code, wrong, d, hint)
    # data-driven: a right answer on seed A is judged against seed B's own data
    differing = 0
    for code, (right_a, _, _) in truths["A"].items():
        right_b = truths["B"][code][0]
        if isinstance(right_a, (bool, np.bool_, str)):
            same = right_a == right_b
        else:  # or, by chance, equal to within the judge's rounding tolerance
            gap = abs(float(right_a) - float(right_b))
            same = gap < 1e-3 * max(1.0, abs(float(right_b))) or (
                gap < 0.05 * max(1.0, abs(float(right_b)))
                and training.check(code, right_a, sets["B"]).correct)
        if not same:
            differing += 1
            assert training.check(code, right_a, sets["B"]).correct is False, code
    # session 04's alarm counts and rank bounds are small integers two seeds can share
    assert differing >= (1 if session in ("03", "04", "05") else 2), session


@uses_sets
def test_session03_period_code(sets):
    d = sets["A"]
    _ok("03.1", "2024-Q3", d)  # the quarter before the last quarter of data ending 2024-12
    _ok("03.1", "2024-q3", d)
    _wrong("03.1", "2023-Q4", d, "同比")
    _wrong("03.1", "2024-09", d, "季度")


@uses_sets
def test_session05_sentence_with_numbers(sets):
    for key in ("A", "B"):
        d = sets[key]
        r = d.records
        j = r[_in(r, "judgment_on", d.year) & r["recommendation_adopted"].notna().to_numpy()]
        ago = r[_in(r, "judgment_on", periods.parse(d.year).year_ago().code)
                & r["recommendation_adopted"].notna().to_numpy()]
        v = j["recommendation_adopted"].astype(bool).mean() * 100
        c = v - ago["recommendation_adopted"].astype(bool).mean() * 100
        word = "下降" if c < 0 else "上升"
        other = "上升" if c < 0 else "下降"
        _ok("05.4", f"本年量刑建议采纳率{v:.1f}%，同比{word}{abs(c):.1f}个百分点。", d)
        _wrong("05.4", f"本年量刑建议采纳率{v:.1f}%，同比{other}{abs(c):.1f}个百分点。", d, "方向")
        _wrong("05.4", f"本年量刑建议采纳率{v:.1f}%，同比{word}{abs(c):.1f}%。", d, "百分点")
        _wrong("05.4", f"采纳率同比{word}{abs(c):.1f}个百分点。", d, "采纳率")
    with pytest.raises(AssertionError):
        _ok("05.4", "采纳率保持高位。", sets["A"])


# ---------------------------------------------------------------------------------------------
# final exercises: the planted patterns are found, and nothing is found where nothing is planted
# ---------------------------------------------------------------------------------------------


def _truth(d) -> dict:
    entry = read_index(d.home)[str(d.seed)]
    return {p["id"]: p for p in entry["truth"]["patterns"]}


def _short_agency(name: str) -> str:
    return re.sub(r"^.*?公安局", "", name)


def _planted_answers(d) -> dict:
    t = _truth(d)
    units = dict(zip(d.units["unit_code"], d.units["unit_name"]))
    bail, slow = t["post_arrest_bail_jump"]["where"], t["slow_prosecutor"]["where"]
    err = t["entry_error_run"]["where"]
    return {
        "03.5": [t["rising_charge"]["where"]["charge"],
                 _short_agency(bail["referring_agency"]) + bail["police_station"]],
        "04.5": [_short_agency(bail["referring_agency"]) + "·" + bail["police_station"],
                 slow["prosecutor_name"]],
        "05.5": [units[t["adoption_drop"]["where"]["unit_code"]],
                 t["rising_charge"]["effect"]["keywords"][0]],
        "06.5": [units[err["unit_code"]] + err["department"],
                 t["closed_case_editor"]["where"]["account"]],
    }


@uses_sets
def test_final_exercises_accept_the_planted_patterns_and_reject_others(sets):
    for key in ("A", "B"):
        d = sets[key]
        for code, answers in _planted_answers(d).items():
            for a in answers:
                _ok(code, a, d)
            _wrong(code, "无", d, "确有")
        _wrong("03.5", "故意伤害", d)  # never a planted rising charge
        _wrong("04.5", "不存在的派出所", d)
        _wrong("06.5", "第二检察部", d, "哪个院")
    # seed A's rising charge and slow prosecutor are not seed B's
    a, b = _planted_answers(sets["A"]), _planted_answers(sets["B"])
    assert a["03.5"][0] != b["03.5"][0] and a["04.5"][1] != b["04.5"][1]
    _wrong("03.5", a["03.5"][0], sets["B"])
    _wrong("04.5", a["04.5"][1], sets["B"])
    # seed A's modus-operandi word belongs to another charge
    _wrong("05.5", a["05.5"][1], sets["B"])


@uses_sets
def test_final_exercises_on_null_data_want_none(sets):
    planted = _planted_answers(sets["A"])
    for code, answers in planted.items():
        for a in answers:
            _wrong(code, a, sets["null"])
        fb = _ok(code, "无", sets["null"])
        assert "没有发现" in fb.message


@uses_sets
def test_reveal_is_for_the_facilitator_only(sets):
    assert set(training.reveal(sets["A"])["pattern"]) == set(_truth(sets["A"]))
    assert training.reveal(sets["null"]).empty


# ---------------------------------------------------------------------------------------------
# the notebooks: committed clean, written to the house rules, and they run
# ---------------------------------------------------------------------------------------------

_ALLOWED_NUMBERS = {"95%", "99.8%"}


def _markdown_numbers(text: str) -> list[str]:
    """Digits typed into Markdown, outside code spans and the two control-limit levels."""
    text = re.sub(r"`[^`]*`", "", text)
    for allowed in _ALLOWED_NUMBERS:
        text = text.replace(allowed, "")
    return re.findall(r"[^\s，。；：、（）]*\d[^\s，。；：、（）]*", text)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebooks_are_clean_and_follow_the_house_rules(name):
    assert len(NOTEBOOKS) == 6
    ex = nbformat.read(EXERCISE_DIR / name, as_version=4)
    sol = nbformat.read(SOLUTION_DIR / name, as_version=4)
    session = name[:2]
    codes = set(training.exercises(session)["exercise"])
    for nb in (ex, sol):
        assert nb.metadata["kernelspec"]["name"] == config.KERNEL_NAME
        for cell in nb.cells:
            src = cell.source
            if cell.cell_type == "markdown":
                assert not _markdown_numbers(src), (name, _markdown_numbers(src))
                continue
            assert not cell.get("outputs") and cell.get("execution_count") is None, name
            assert not re.search(r"^\s*(def|class|for|while|async)\b", src, re.M), (name, src)
            assert not re.search(r"^\s*[%!]", src, re.M), (name, src)
        checks = re.findall(r'training\.check\("(\d\d\.\d)", (answer_\d_\d), ', "\n".join(
            c.source for c in nb.cells if c.cell_type == "code"))
        assert {c for c, _ in checks} == codes and len(checks) == len(codes), name
        assert all(v == f"answer_{c[1]}_{c[-1]}" for c, v in checks)
    ex_src = "\n".join(c.source for c in ex.cells)
    assert len(re.findall(r"^answer_\d_\d = None", ex_src, re.M)) == len(codes)
    sol_src = "\n".join(c.source for c in sol.cells)
    assert not re.search(r"^answer_\d_\d = None", sol_src, re.M)
    # the same teaching text in both
    md = [c.source for c in ex.cells if c.cell_type == "markdown"]
    md_sol = [c.source for c in sol.cells if c.cell_type == "markdown"]
    assert md[1:] == md_sol[1:] and md_sol[0].startswith(md[0].splitlines()[0])


def test_the_guide_names_every_session():
    guide = (EXERCISE_DIR / "GUIDE.md").read_text(encoding="utf-8")
    for name in NOTEBOOKS:
        assert name in guide
    for zh in training.SESSIONS.values():
        assert zh in guide
    assert "CASEWORK_TRAINING_SEED" in guide


def _execute(path: Path, home: Path, workdir: Path):
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    with _isolated_env(home):
        NotebookClient(nb, kernel_name=config.KERNEL_NAME, timeout=240, startup_timeout=120,
                       allow_errors=False,
                       resources={"metadata": {"path": str(workdir)}}).execute()
    return nb


def _outputs(nb) -> list[str]:
    out = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            out.append(str(o.get("text", "")) + str(o.get("data", {}).get("text/markdown", "")))
    return out


@pytest.mark.notebook
@pytest.mark.parametrize("kind", ["exercise", "solution"])
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs(name, kind, shared_home, tmp_path):
    folder = SOLUTION_DIR if kind == "solution" else EXERCISE_DIR
    nb = _execute(folder / name, shared_home, tmp_path)
    texts = _outputs(nb)
    verdicts = [t for t in texts if t.startswith("**练习 ")]
    assert len(verdicts) == 5, verdicts
    if kind == "solution":
        assert all("✅ 正确" in t for t in verdicts), verdicts
    else:
        assert all("尚未作答" in t for t in verdicts), verdicts
    assert not any("Glyph" in t or "Traceback" in t for t in texts)
    shutil.rmtree(tmp_path, ignore_errors=True)
