"""Training sessions (业务数据分析技能培训): the training data and the exercise checks.

The six notebooks in ``notebooks/training/`` teach the library on synthetic data with known,
findable patterns (:mod:`casework.synth`). This module gives them

* :func:`load` — the session data: a planted synthetic data set written once into a separate
  *training store* (``<CASEWORK_HOME>/data/training``, never the analyst's own store) with
  :func:`casework.store.write_snapshot`, and read back through :func:`casework.store.read`
  (purpose ``培训…``), so every read appears in the training store's query audit log
  (一查询一记录) exactly as in real work;
* :func:`exports` — the files of session 01: system-like exports written by
  :func:`casework.synth.generate` into a temporary folder, plus two practice files made from
  them (one with non-standard headers, one with damaged cells);
* :func:`check` — immediate feedback on an answer, in Chinese: 正确, or what to look at again
  (the numerator, the cohort, 人 vs 件, the denominator …).

How the checks decide
---------------------
A check never compares with a stored answer key. It recomputes the right answer with the
library on the data it is given — the learner's own data — and, for a wrong answer, also
computes the values that the usual mistakes produce (件 instead of 人, the acceptance cohort
instead of the closing cohort, 环比 instead of 同比 …) to say which mistake it probably was.
The last exercise of sessions 03–06 asks for a planted pattern without naming it; its check
reruns the detection (:func:`casework.analysis.monitor.scan`, :func:`casework.analysis.compare.horizontal`,
:func:`casework.analysis.workload.handling_days`, :func:`casework.analysis.quality.error_rates`,
:func:`casework.analysis.modifications.account_flags`, :func:`casework.analysis.topics.recurring.emerging_terms`)
and accepts whatever the library flags — never the generator's ``truth.json``. On data with
nothing planted (``null=True``) the right answer to those exercises is "无".

Every number a learner reads is computed: feedback messages quote values only from the data.

Examples
--------
>>> from casework import training
>>> fb = training.check("03.1", None, None)
>>> fb.correct, str(fb).startswith("练习 03.1：尚未作答")
(None, True)
>>> ex = training.exercises()
>>> ex.groupby("session").size().tolist()
[5, 5, 5, 5, 5, 5]
>>> training.judge_number(0.2349, 0.235, kind="rate")
(True, '')
>>> training.judge_number(23.5, 0.235, kind="rate")[0]
False
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from casework.base import config
from casework.base.errors import CaseworkError, ParameterError

__all__ = [
    "TrainingData", "Exports", "Feedback", "load", "exports", "check", "exercises", "home",
    "use_store", "default_seed", "peek", "try_read", "reveal", "judge_number",
]

#: Size of the training data: small enough for fast notebooks, large enough for the patterns.
UNITS = 3
YEARS = 3
#: Last month of the training data (fixed, so that every cohort sees the same periods).
END = "2024-12"
#: Seed used when none is given and ``CASEWORK_TRAINING_SEED`` is unset.
DEFAULT_SEED = 20240501
#: Environment variable a facilitator sets to give a cohort its own data set.
SEED_ENV = "CASEWORK_TRAINING_SEED"
#: Environment variable naming the training store (set by :func:`use_store`).
HOME_ENV = "CASEWORK_TRAINING_HOME"
#: Persons in the session-01 exports (one unit, one year).
EXPORT_PERSONS = 1500
#: A monitoring signal is "sustained" when its episode lasts at least this many months.
SUSTAINED_MONTHS = 3
#: Months scanned by the monitoring exercises.
SCAN_MONTHS = 24
#: Emerging modus-operandi terms accepted in session 05.
TERMS = 8

_NONE_WORDS = {"无", "没有", "没有发现", "未发现", "无异常", "none", "no", "nothing"}


# ---------------------------------------------------------------------------------------------
# The training store
# ---------------------------------------------------------------------------------------------


def default_seed() -> int:
    """The cohort's seed: ``CASEWORK_TRAINING_SEED`` when set, else :data:`DEFAULT_SEED`."""
    raw = os.environ.get(SEED_ENV, "").strip()
    if not raw:
        return DEFAULT_SEED
    try:
        return int(raw)
    except ValueError:
        raise ParameterError(f"环境变量 {SEED_ENV} 应为整数，收到 {raw!r}",
                             f"{SEED_ENV} must be an integer; got {raw!r}") from None


def home() -> Path:
    """Folder of the training store: ``CASEWORK_TRAINING_HOME`` when set, else
    ``<CASEWORK_HOME>/data/training`` (inside the git-ignored ``data/``)."""
    env = os.environ.get(HOME_ENV, "").strip()
    return Path(env).resolve() if env else (config.data_dir() / "training").resolve()


def use_store() -> Path:
    """Point this process at the training store (``CASEWORK_HOME``) and return its folder.

    From then on :func:`casework.store.read`, :func:`casework.store.audit_entries` and the
    importer work on the training store, so nothing a learner does touches real data.
    """
    h = home()
    h.mkdir(parents=True, exist_ok=True)
    os.environ[HOME_ENV] = str(h)
    os.environ["CASEWORK_HOME"] = str(h)
    return h


def _index_path(h: Path) -> Path:
    return h / "training_sets.json"


def _read_index(h: Path) -> dict:
    try:
        return json.loads(_index_path(h).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _write_index(h: Path, index: dict) -> None:
    tmp = h / f".training_sets-{os.getpid()}.tmp"
    tmp.write_text(json.dumps(index, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(tmp, _index_path(h))


@dataclass
class TrainingData:
    """One session's data, read through the audited store.

    Attributes
    ----------
    seed, null : the generator's arguments (``null``: nothing planted).
    snapshot : the training snapshot id. home : the training store's folder.
    records, modifications, journeys : the three tables (canonical columns).
    start, end : first and last month of the data (``YYYY-MM``).
    units : ``unit_code, unit_name`` of the units in the data.
    """

    seed: int
    null: bool
    snapshot: str
    home: Path
    records: pd.DataFrame
    modifications: pd.DataFrame
    journeys: pd.DataFrame
    start: str
    end: str
    units: pd.DataFrame
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def year(self) -> str:
        """Period code of the last year of the data (``2024``; year-to-date if it ends early)."""
        y, m = self.end.split("-")
        return y if m == "12" else f"{y}-YTD{m}"

    @property
    def quarter(self) -> str:
        """Period code of the quarter holding the last month (``2024-Q4``)."""
        y, m = self.end.split("-")
        return f"{y}-Q{(int(m) - 1) // 3 + 1}"

    @property
    def month(self) -> str:
        """The last month of the data (``YYYY-MM``)."""
        return self.end

    def cached(self, key, compute):
        """``compute()`` once per data set (checks reuse the detections they run)."""
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def __repr__(self) -> str:
        what = "对照数据（未植入模式）" if self.null else "含植入模式的合成数据"
        return (f"<培训数据 {what}：{len(self.records):,} 行案卡，{len(self.modifications):,} 条修改记录，"
                f"{len(self.units)} 个单位，{self.start} 至 {self.end}；快照 {self.snapshot}>")


def load(*, seed: int | None = None, null: bool = False, account: str | None = None) -> TrainingData:
    """The training data of a session, written once into the training store and read back.

    Parameters
    ----------
    seed : int, optional
        Generator seed; default :func:`default_seed` (one data set per cohort).
    null : bool
        Data with nothing planted (for checking that a method raises no false alarm).
    account : str, optional
        Who reads (recorded in the audit log); default ``CASEWORK_USER`` or the OS login.

    Returns
    -------
    TrainingData

    Notes
    -----
    The first call for a seed generates :data:`UNITS` units × :data:`YEARS` years ending
    :data:`END` (:func:`casework.synth.make`) and writes them as a snapshot of the training
    store; later calls only read. Each table is read with :func:`casework.store.read`, so the
    training store's audit log (``store.audit_entries()``) shows one row per read. This call
    switches the process to the training store (:func:`use_store`).
    """
    from casework import store, synth

    seed = default_seed() if seed is None else int(seed)
    null = bool(null)
    h = use_store()
    key = f"{seed}-null" if null else str(seed)
    entry = _read_index(h).get(key)
    sid = entry.get("snapshot") if entry else None
    if sid is not None:
        try:
            store.manifest(sid)
        except CaseworkError:
            sid = None
    if sid is None:
        d = synth.make(units=UNITS, years=YEARS, end=END, seed=seed, null=null)
        man = store.write_snapshot({"records": d.records, "modifications": d.modifications},
                                   account="training")
        sid = man["id"]
        index = _read_index(h)
        index[key] = {"snapshot": sid, "seed": seed, "null": null, "start": d.truth["start"],
                      "end": d.truth["end"], "truth": d.truth}
        _write_index(h, index)
        entry = index[key]
    purpose = f"培训：载入练习数据（种子 {seed}{'，对照数据' if null else ''}）"
    records = store.read("records", snapshot=sid, purpose=purpose, account=account)
    mods = store.read("modifications", snapshot=sid, purpose=purpose, account=account)
    journeys = store.read("journeys", snapshot=sid, purpose=purpose, account=account)
    units = (records[["unit_code", "unit_name"]].drop_duplicates("unit_code")
             .sort_values("unit_code").reset_index(drop=True))
    return TrainingData(seed=seed, null=null, snapshot=sid, home=h, records=records,
                        modifications=mods, journeys=journeys, start=entry["start"],
                        end=entry["end"], units=units)


def reveal(data: TrainingData) -> pd.DataFrame:
    """What the generator planted in ``data`` (for the facilitator's debrief, after the session).

    The checks never use this. Returns ``pattern, what_zh, from, to`` (empty for null data).
    """
    entry = _read_index(data.home).get(f"{data.seed}-null" if data.null else str(data.seed))
    pats = (entry or {}).get("truth", {}).get("patterns", [])
    return pd.DataFrame([{"pattern": p["id"], "what_zh": p["what_zh"], "from": p["from"],
                          "to": p["to"]} for p in pats], columns=["pattern", "what_zh", "from", "to"])


# ---------------------------------------------------------------------------------------------
# Session 01: exports
# ---------------------------------------------------------------------------------------------

#: Header swaps of the "non-standard headers" practice file: (export header, header used).
_RENAMES = (("部门受案号", "案件编号"), ("受理日期", "收案时间"), ("办案环节", "诉讼阶段"),
            ("统一受案号", "案件统一编号"))
#: Damage of the "bad file" practice file: (export header, replacement values).
_DAMAGE = (("受理日期", ("不详", "2024-13-45", "昨天", "待补")),
           ("办案环节", ("公诉", "审查起x", "侦查")),
           ("审结日期", ("尚未审结?", "2024/02/30", "下周")))


@dataclass
class Exports:
    """The session-01 files: ``files`` maps ``arrest_review``, ``prosecution_review``,
    ``modifications`` to the GB18030 CSV exports (``*_xlsx`` to the Excel copies);
    ``renamed`` is the prosecution export with non-standard headers, ``broken`` the same with
    damaged cells; ``summary`` is :func:`casework.synth.generate`'s summary."""

    seed: int
    folder: Path
    files: dict
    renamed: Path
    broken: Path
    summary: dict
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def cached(self, key, compute):
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def __repr__(self) -> str:
        names = "、".join(p.name for k, p in self.files.items() if not k.endswith("_xlsx"))
        return f"<培训导出文件 {self.folder}：{names}，以及练习文件 {self.renamed.name}、{self.broken.name}>"


def exports(*, seed: int | None = None, folder=None) -> Exports:
    """Write system-like exports for session 01 and two practice files made from them.

    Parameters
    ----------
    seed : int, optional
        Default :func:`default_seed`.
    folder : path, optional
        Where to write; default a new temporary folder.

    Returns
    -------
    Exports

    Notes
    -----
    One unit, one year ending :data:`END`, about :data:`EXPORT_PERSONS` persons
    (:func:`casework.synth.generate`). The practice files: ``审查起诉案件_表头不同.csv`` (two
    required headers replaced by names the importer does not know — which ones depends on the
    seed) and ``审查起诉案件_有错误.csv`` (a few cells of one column made unreadable). Also
    switches the process to the training store (:func:`use_store`), so an import made in the
    session lands there.
    """
    from casework import synth

    seed = default_seed() if seed is None else int(seed)
    use_store()
    out = Path(folder) if folder is not None else Path(tempfile.mkdtemp(prefix="casework-training-"))
    summary = synth.generate(out, units=1, years=1, end=END, persons=EXPORT_PERSONS, seed=seed)
    exp = out / "exports"
    files = {
        "arrest_review": exp / "审查逮捕案件.csv",
        "prosecution_review": exp / "审查起诉案件.csv",
        "modifications": exp / "案卡修改日志.csv",
        "arrest_review_xlsx": exp / "审查逮捕案件.xlsx",
        "prosecution_review_xlsx": exp / "审查起诉案件.xlsx",
        "modifications_xlsx": exp / "案卡修改日志.xlsx",
    }
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1, 2024)))
    raw = pd.read_csv(files["prosecution_review"], encoding="gb18030", dtype=str,
                      keep_default_na=False)
    practice = out / "练习文件"
    practice.mkdir(exist_ok=True)
    picks = sorted(rng.choice(len(_RENAMES), size=2, replace=False).tolist())
    renamed = practice / "审查起诉案件_表头不同.csv"
    raw.rename(columns=dict(_RENAMES[i] for i in picks)).to_csv(renamed, index=False,
                                                                  encoding="gb18030")
    col, bad_values = _DAMAGE[int(rng.integers(0, len(_DAMAGE)))]
    rows = np.sort(rng.choice(len(raw), size=len(bad_values), replace=False))
    broken_df = raw.copy()
    broken_df.loc[rows, col] = list(bad_values)
    broken = practice / "审查起诉案件_有错误.csv"
    broken_df.to_csv(broken, index=False, encoding="gb18030")
    return Exports(seed=seed, folder=out, files=files, renamed=renamed, broken=broken,
                   summary=summary)


def peek(path, *, encoding: str = "utf-8", lines: int = 2) -> str:
    """The first ``lines`` lines of a text file decoded with ``encoding``; bytes that do not
    decode are shown as the replacement character (that is what 乱码 looks like).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.csv"
    >>> _ = p.write_bytes("罪名,受理日期\\n盗窃,2024-05-03\\n".encode("gb18030"))
    >>> peek(p, encoding="gb18030", lines=1)
    '罪名,受理日期'
    >>> "\\ufffd" in peek(p, encoding="utf-8", lines=1)
    True
    """
    with open(path, "rb") as fh:
        head = fh.read(4096 * max(lines, 1))
    text = head.decode(encoding, errors="replace")
    return "\n".join(text.splitlines()[:lines])


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")


def _md(text) -> str:
    """Text shown literally in Markdown: HTML-escaped (quotes kept) and Markdown punctuation
    backslash-escaped, so text from data never renders as markup."""
    import html

    return _MD_SPECIAL.sub(r"\\\1", html.escape(str(text), quote=False))


@dataclass
class ReadResult:
    """What :func:`try_read` found: the frame and warnings, or the error text."""

    frame: pd.DataFrame | None
    warnings: list
    error: str | None

    @property
    def ok(self) -> bool:
        return self.error is None

    def _repr_markdown_(self) -> str:
        if self.error is not None:
            return "**导入失败**（没有导入任何数据）：\n\n" + "\n\n".join(
                _md(line) for line in self.error.splitlines())
        head = f"**读取成功**：{len(self.frame):,} 行，{self.frame.shape[1]} 列"
        if not self.warnings:
            return head + "，没有警告。"
        items = "\n".join(f"{i}. {_md(w)}" for i, w in enumerate(self.warnings, 1))
        return head + f"，警告 {len(self.warnings)} 条：\n\n" + items


def try_read(path, *, mapping=None) -> ReadResult:
    """:func:`casework.ingest.io.read_export` that returns its error message instead of raising, so a
    notebook cell can show what the importer says about a bad file."""
    from casework.ingest import io

    try:
        df, warnings = io.read_export(path, mapping=mapping)
    except CaseworkError as err:
        return ReadResult(None, [], str(err))
    return ReadResult(df, list(warnings), None)


# ---------------------------------------------------------------------------------------------
# Feedback and answer handling
# ---------------------------------------------------------------------------------------------


@dataclass
class Feedback:
    """The verdict on one answer: ``correct`` (True / False / None when not answered yet)
    and a Chinese ``message``. Shown as Markdown in a notebook."""

    exercise: str
    correct: bool | None
    message: str

    def _repr_markdown_(self) -> str:
        if self.correct is None:
            head = f"**练习 {self.exercise}：尚未作答**"
        elif self.correct:
            head = f"**练习 {self.exercise}：✅ 正确**"
        else:
            head = f"**练习 {self.exercise}：❌ 再看看**"
        body = "\n\n".join(_md(line) for line in self.message.splitlines())
        return f"{head}\n\n{body}"

    def __str__(self) -> str:
        state = {None: "尚未作答", True: "正确", False: "再看看"}[self.correct]
        return f"练习 {self.exercise}：{state}。{self.message}"


class _BadAnswer(Exception):
    """The answer has the wrong shape (a text where a number is wanted …)."""


@dataclass(frozen=True)
class _Exercise:
    code: str
    session: str
    title_zh: str
    answer_zh: str
    fn: object


_EXERCISES: dict[str, _Exercise] = {}

SESSIONS = {
    "01": "导入与清洗",
    "02": "指标口径",
    "03": "同比环比与趋势",
    "04": "横向对比",
    "05": "专题分析",
    "06": "案卡质量与修改审核",
}


def _exercise(code: str, title_zh: str, answer_zh: str):
    def register(fn):
        _EXERCISES[code] = _Exercise(code, code.split(".")[0], title_zh, answer_zh, fn)
        return fn
    return register


def exercises(session: str | None = None) -> pd.DataFrame:
    """The exercises: ``exercise, session, session_zh, title_zh, answer_zh`` (what to type).

    Examples
    --------
    >>> exercises("02")["exercise"].tolist()
    ['02.1', '02.2', '02.3', '02.4', '02.5']
    """
    rows = [{"exercise": e.code, "session": e.session, "session_zh": SESSIONS[e.session],
             "title_zh": e.title_zh, "answer_zh": e.answer_zh}
            for e in _EXERCISES.values() if session is None or e.session == str(session).zfill(2)]
    return pd.DataFrame(rows, columns=["exercise", "session", "session_zh", "title_zh", "answer_zh"])


def check(exercise: str, answer, data) -> Feedback:
    """Check one answer against the data it is about; returns :class:`Feedback`.

    Parameters
    ----------
    exercise : str
        Exercise code, e.g. ``"02.1"`` (see :func:`exercises`).
    answer : object
        What the learner typed; ``None`` means not answered yet.
    data : TrainingData or Exports
        The session's data (:func:`load`, or :func:`exports` for session 01).

    Returns
    -------
    Feedback
        ``correct`` is None (not answered), True or False; ``message`` says why, computed
        from ``data``.
    """
    code = str(exercise).strip()
    if code not in _EXERCISES:
        raise ParameterError(f"没有练习 {code!r}，可选：{', '.join(_EXERCISES)}",
                             f"no exercise {code!r}; available: {', '.join(_EXERCISES)}")
    ex = _EXERCISES[code]
    if answer is None or answer is Ellipsis or (isinstance(answer, str) and not answer.strip()):
        return Feedback(code, None, f"在上面的单元格中把 None 换成你的答案（{ex.answer_zh}），再运行本单元格。")
    want = Exports if ex.session == "01" else TrainingData
    if not isinstance(data, want):
        helper = "training.exports()" if ex.session == "01" else "training.load()"
        raise ParameterError(f"练习 {code} 需要 {helper} 返回的数据",
                             f"exercise {code} needs the data returned by {helper}")
    try:
        ok, message = ex.fn(answer, data)
    except _BadAnswer as err:
        return Feedback(code, False, f"答案的形式不对：{err}（应为{ex.answer_zh}）")
    return Feedback(code, bool(ok), message)


def _number(answer) -> float:
    if isinstance(answer, (bool, np.bool_)):
        raise _BadAnswer("这里要填一个数字，不是是/否")
    if isinstance(answer, str):
        text = answer.strip().replace(",", "").replace("，", "")
        pct = text.endswith("%")
        try:
            value = float(text.rstrip("%"))
        except ValueError:
            raise _BadAnswer(f"无法把 {answer!r} 读成数字") from None
        return value / 100 if pct else value
    if isinstance(answer, (pd.Series, pd.DataFrame, np.ndarray, list, tuple)):
        arr = np.asarray(answer, dtype="object").ravel()
        if len(arr) != 1:
            raise _BadAnswer("这里要填一个数字，不是一列或一张表（用 .iloc[0] 取出其中的值）")
        return _number(arr[0])
    try:
        value = float(answer)
    except (TypeError, ValueError):
        raise _BadAnswer(f"无法把 {answer!r} 读成数字") from None
    if not np.isfinite(value):
        raise _BadAnswer("答案是空值（NaN）")
    return value


_TOL = {"rate": 6e-4, "pp": 0.06, "percent": 0.06, "count": 0.5, "days": 0.06, "ratio": 6e-3}


def _close(x: float, y: float, kind: str) -> bool:
    if y is None or not np.isfinite(y):
        return False
    return abs(x - y) <= _TOL[kind] + 1e-12


def judge_number(answer, right: float, *, kind: str, mistakes=(), scale_hints: bool = True):
    """Judge a numeric answer: ``(correct, hint)``.

    Parameters
    ----------
    answer : number or text
        What the learner typed (``"23.5%"`` is read as 0.235).
    right : float
        The value recomputed from the data.
    kind : {"rate", "pp", "percent", "count", "days", "ratio"}
        What the number is: a proportion 0–1, a change in percentage points, a per cent
        change, a count, days, or a ratio. Sets the tolerance (a rate may be rounded to
        three decimals or to one decimal of a per cent).
    mistakes : sequence of (value, hint)
        Values the usual mistakes give, with the hint to show when the answer matches one.

    Returns
    -------
    (bool, str)

    Examples
    --------
    >>> judge_number(12, 12, kind="count")
    (True, '')
    >>> judge_number(14, 12, kind="count", mistakes=[(14, "这是件数")])
    (False, '这是件数')
    """
    x = _number(answer)
    if _close(x, right, kind):
        return True, ""
    for value, hint in mistakes:
        if value is not None and np.isfinite(value) and not _close(value, right, kind) \
                and _close(x, value, kind):
            return False, hint
    if scale_hints and kind == "rate" and _close(x / 100, right, kind):
        return False, "数值像是百分数：比率请写成小数（百分之几十写成零点几），或写成带百分号的文字。"
    if scale_hints and kind in ("pp", "percent") and _close(x * 100, right, kind):
        return False, "数值像是小数：变化请用百分点（或百分比）表示，即乘以一百后的数。"
    if scale_hints and kind in ("pp", "percent") and _close(-x, right, kind):
        return False, "方向反了：变化 = 本期 − 比较期，本期低于比较期时为负数。"
    return False, ""


def _verdict(ok: bool, hint: str, good: str, generic: str) -> tuple[bool, str]:
    if ok:
        return True, good
    return False, hint or generic


def _text(answer) -> str:
    if isinstance(answer, (pd.Series, pd.Index, np.ndarray, list, tuple)):
        arr = list(np.asarray(answer, dtype="object").ravel())
        if len(arr) != 1:
            raise _BadAnswer("这里要填一个名称（文字），不是一列或多个值")
        answer = arr[0]
    if not isinstance(answer, str):
        answer = str(answer)
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", answer))


def _charge_key(name) -> str:
    s = _text(name)
    for suffix in ("案件", "案", "罪"):
        if s.endswith(suffix) and len(s) > len(suffix) + 1:
            s = s[: -len(suffix)]
    return s


def _pct(x) -> str:
    return "—" if x is None or not np.isfinite(x) else f"{x:.1%}"


def _months(period) -> list[str]:
    from casework.analysis import periods

    return [m.code for m in periods.parse(period).months()]


def _label(period) -> str:
    from casework.analysis import periods

    return periods.parse(period).label_zh


# ---------------------------------------------------------------------------------------------
# Computations shared by checks (cached on the data)
# ---------------------------------------------------------------------------------------------


def _panel(data: TrainingData, indicator: str, period, *, by=(), unit: str = "person"):
    from casework.analysis import panel

    key = ("panel", indicator, str(period), tuple(by), unit)
    return data.cached(key, lambda: panel.compute(
        data.records, indicators=indicator, by=by, period=period, journeys=data.journeys,
        count_unit=unit))


def _value(data, indicator, period, *, unit="person", column="value") -> float:
    row = _panel(data, indicator, period, unit=unit).iloc[0]
    v = row[column]
    return float(v) if v is not None and not pd.isna(v) else float("nan")


def _closed_in(records: pd.DataFrame, period, column: str = "closed_on") -> pd.Series:
    from casework.analysis import periods

    return periods.parse(period).contains(records[column]).fillna(False).astype(bool)


# ---------------------------------------------------------------------------------------------
# Session 01 — 导入与清洗
# ---------------------------------------------------------------------------------------------


def _export_frame(data: Exports, kind: str) -> pd.DataFrame:
    from casework.ingest import io

    return data.cached(("read", kind), lambda: io.read_export(data.files[kind])[0])


@_exercise("01.1", "审查起诉导出文件有多少行案卡（人）", "一个整数")
def _check_01_1(answer, data: Exports):
    df = _export_frame(data, "prosecution_review")
    right = len(df)
    ok, hint = judge_number(answer, right, kind="count", mistakes=[
        (right + 1, "多数了一行：表头那一行不是案卡。"),
        (df["dept_case_no"].nunique(), "你数的是部门受案号（件），本题问的是案卡行数（人）：共同犯罪案件一件有多名嫌疑人。"),
        (len(_export_frame(data, "arrest_review")), "这是审查逮捕文件的行数，本题问审查起诉文件。"),
    ])
    return _verdict(ok, hint, f"审查起诉导出文件共 {right:,} 行案卡，涉及 {df['dept_case_no'].nunique():,} 件。",
                    "用 io.read_export 读入文件后看返回的表有多少行（len）。")


@_exercise("01.2", "案卡修改日志导出文件使用什么字符编码", "编码名称，如 \"UTF-8\" 这样的文字")
def _check_01_2(answer, data: Exports):
    raw = Path(data.files["modifications"]).read_bytes()
    try:
        raw.decode("utf-8")
        right = "UTF-8"
    except UnicodeDecodeError:
        raw.decode("gb18030")
        right = "GB18030"
    a = _text(answer).upper().replace("_", "-")
    if a in ("UTF8",):
        a = "UTF-8"
    if a == right:
        return True, f"该文件按 {right} 编码；导入程序会自动识别，但用 Excel 或其他工具打开时要选对编码。"
    if right == "GB18030" and a in ("GBK", "GB2312", "CP936", "ANSI"):
        return True, (f"可以这样说：{a} 是 GB18030 的子集，系统导出的中文文件按 GB18030 读取最稳妥"
                      "（生僻字也不会出错）。")
    if a in ("UTF-8", "UTF-8-SIG"):
        return False, "用 UTF-8 解码这个文件会出现乱码或报错（试试 training.peek）。统一业务应用系统导出的 CSV 通常是国标编码。"
    return False, "用 training.peek 分别以 \"utf-8\" 和 \"gb18030\" 解码文件开头，看哪一种显示正常的中文。"


@_exercise("01.3", "审查逮捕导出文件中审结日期早于受理日期的行号", "行号的列表（按表格行号，含表头）")
def _check_01_3(answer, data: Exports):
    df = _export_frame(data, "arrest_review")
    bad = (df["closed_on"] < df["accepted_on"]).fillna(False).to_numpy()
    right = sorted((np.flatnonzero(bad) + 2).tolist())
    if isinstance(answer, (int, np.integer)):
        answer = [answer]
    if not isinstance(answer, (list, tuple, set, pd.Series, np.ndarray, pd.Index)):
        raise _BadAnswer("请写成行号的列表，如 [行号1, 行号2]")
    try:
        got = sorted(int(x) for x in answer)
    except (TypeError, ValueError):
        raise _BadAnswer("列表中应全是整数行号") from None
    if got == right:
        return True, f"共 {len(right)} 行；导入程序保留了这些行并在警告中列出，交承办部门核实更正。"
    if got == [r - 2 for r in right]:
        return False, "这是 pandas 的行索引（从零开始、不含表头）。导入报告用的是表格中的行号：表头是第一行。"
    if got == [r - 1 for r in right]:
        return False, "差了一行：导入报告的行号把表头算作第一行。"
    if set(got) < set(right):
        return False, "只找到了一部分：看导入报告中关于审结日期的那条警告，列出的行都要写上。"
    return False, "先用 training.try_read 读入审查逮捕文件，看导入报告中关于审结日期的警告列出了哪些行。"


@_exercise("01.4", "为表头不同的文件写映射，使其能够导入", "一个映射字典，如 {\"columns\": {规范列名: 文件中的表头}}")
def _check_01_4(answer, data: Exports):
    from casework.ingest import io

    if not isinstance(answer, dict):
        raise _BadAnswer("映射应是一个字典，形如 {\"columns\": {...}}")
    try:
        df, _ = io.read_export(data.renamed, mapping=answer)
    except CaseworkError as err:
        return False, f"还不能导入，导入程序说：{err.zh}"
    ref = _export_frame(data, "prosecution_review")
    cols = ["dept_case_no", "unified_case_no", "stage", "person_id", "accepted_on"]
    same = all(df[c].astype("string").fillna("").equals(ref[c].astype("string").fillna("")) for c in cols)
    if same:
        headers = set(pd.read_csv(data.renamed, encoding="gb18030", nrows=0).columns)
        mapped = "、".join(f"{v}→{k}" for k, v in (answer.get("columns") or {}).items()
                          if (v["source"] if isinstance(v, dict) else v) in headers)
        return True, f"映射生效（{mapped}），导入结果与标准表头的文件一致。映射文件可以保存为 YAML，导入时用 --mapping 指定。"
    return False, "文件能读入，但有的列对应错了：检查每个表头对应的规范列名（看 schema 中各列的中文名）。"


@_exercise("01.5", "有错误的文件：导入程序指出问题出在哪一列", "列名（文件中的中文表头或规范英文名）")
def _check_01_5(answer, data: Exports):
    from casework.ingest import mapping

    ok_file = pd.read_csv(data.files["prosecution_review"], encoding="gb18030", dtype=str,
                          keep_default_na=False)
    bad_file = pd.read_csv(data.broken, encoding="gb18030", dtype=str, keep_default_na=False)
    differ = [c for c in ok_file.columns if not ok_file[c].equals(bad_file[c])]
    targets = {c for c in differ} | {mapping.match_header(c, "records") for c in differ}
    a = _text(answer)
    canon = mapping.match_header(a, "records")
    if a in targets or (canon is not None and canon in targets):
        rows = int(sum((ok_file[c] != bad_file[c]).sum() for c in differ))
        return True, (f"问题在「{'、'.join(differ)}」一列，共 {rows} 个单元格无法识别。"
                      "导入程序没有导入任何数据：改正源文件中这些行后重新导入。")
    if canon is None:
        return False, "这不是导出文件中的列名。用 training.try_read 读入有错误的文件，看报错信息中「列」后面写的是哪一列。"
    return False, "不是这一列。用 training.try_read 读入有错误的文件，报错信息逐条列出了出错的列和行号。"


# ---------------------------------------------------------------------------------------------
# Session 02 — 指标口径
# ---------------------------------------------------------------------------------------------


@_exercise("02.1", "本年不捕率（人）", "一个比率（小数）")
def _check_02_1(answer, data: TrainingData):
    r = data.records
    right = _value(data, "non_arrest_rate", data.year)
    ar = r[(r["stage"] == "arrest_review").fillna(False)]
    dec = ar["decision"]
    decided = dec.isin(["arrest_approved", "non_arrest"]).fillna(False)
    acc = _closed_in(ar, data.year, "accepted_on") & decided
    closed = _closed_in(ar, data.year)
    mistakes = [
        (_value(data, "non_arrest_rate", data.year, unit="case"),
         "你算的是件数口径（按部门受案号去重）。本题按人计算：一名嫌疑人算一人。"),
        (1 - right, "你算的是批捕率（批准逮捕 ÷ 审结）。不捕率的分子是不批准逮捕的人数。"),
        ((dec[acc] == "non_arrest").sum() / max(acc.sum(), 1),
         "队列不对：不捕率按审结日期计入期间（审结队列），你用的是受理日期。"),
        ((dec[closed] == "non_arrest").sum() / max(closed.sum(), 1),
         "分母不对：分母只含批准逮捕和不批准逮捕的人，其他审结结论不计入。"),
        ((dec[decided] == "non_arrest").sum() / max(decided.sum(), 1),
         "期间不对：只统计本年（data.year）内审结的人，不是全部数据。"),
    ]
    ok, hint = judge_number(answer, right, kind="rate", mistakes=mistakes)
    num = _value(data, "non_arrest_rate", data.year, column="numerator")
    den = _value(data, "non_arrest_rate", data.year, column="denominator")
    return _verdict(ok, hint, f"{_label(data.year)}不捕率 {_pct(right)}（{num:,.0f}/{den:,.0f} 人）。",
                    "回到指标口径表：不捕率 = 不批准逮捕人数 ÷（批准逮捕 + 不批准逮捕人数），按审结日期计入期间。")


@_exercise("02.2", "本年不诉率（件）", "一个比率（小数）")
def _check_02_2(answer, data: TrainingData):
    r = data.records
    right = _value(data, "non_prosecution_rate", data.year, unit="case")
    pr = r[(r["stage"] == "prosecution_review").fillna(False)]
    closed = _closed_in(pr, data.year)
    cases_all = pr.loc[closed, "dept_case_no"].nunique()
    is_np = (pr["decision"] == "non_prosecution").fillna(False)
    cases_np = pr.loc[closed & is_np, "dept_case_no"].nunique()
    acc = (_closed_in(pr, data.year, "accepted_on")
           & pr["decision"].isin(["prosecute", "non_prosecution"]).fillna(False))
    mistakes = [
        (_value(data, "non_prosecution_rate", data.year),
         "你算的是人数口径。本题要求件数：同一部门受案号只算一件。"),
        (_value(data, "prosecution_rate", data.year, unit="case"),
         "你算的是起诉率。不诉率的分子是不起诉的件数。"),
        (cases_np / max(cases_all, 1),
         "分母不对：分母只含作出起诉或不起诉决定的件，其他审结结论不计入。"),
        (pr.loc[acc & is_np, "dept_case_no"].nunique()
         / max(pr.loc[acc, "dept_case_no"].nunique(), 1),
         "队列不对：不诉率按审结日期计入期间，你用的是受理日期。"),
    ]
    ok, hint = judge_number(answer, right, kind="rate", mistakes=mistakes)
    return _verdict(ok, hint, f"{_label(data.year)}不诉率（件）{_pct(right)}；按人计为 "
                              f"{_pct(_value(data, 'non_prosecution_rate', data.year))}，两个口径不能混比。",
                    "不诉率 = 不起诉 ÷（起诉 + 不起诉），按审结日期计入；件数用 count_unit=\"case\"。")


@_exercise("02.3", "本年捕后不诉率（人）", "一个比率（小数）")
def _check_02_3(answer, data: TrainingData):
    j = data.journeys
    right = _value(data, "post_arrest_non_prosecution_rate", data.year)
    arrested = j["arrested_on"].notna()
    pclosed = _closed_in(j, data.year, "prosecution_closed_on")
    nonpros = (j["prosecution_decision"] == "non_prosecution").fillna(False)
    arrested_in = _closed_in(j, data.year, "arrested_on")
    mistakes = [
        ((arrested & pclosed & nonpros).sum() / max(arrested_in.sum(), 1),
         "分母不对：捕后不诉率的分母是本期审查起诉审结的已捕人员（捕后审结人数），不是本期逮捕人数"
         "——本期逮捕的人多数还没有审结。"),
        ((arrested & pclosed & nonpros).sum() / max(pclosed.sum(), 1),
         "分母不对：分母只含已逮捕的人。你用的是全部审查起诉审结人数。"),
        (_value(data, "post_arrest_non_prosecution_rate", data.year, unit="case"),
         "你算的是件数口径，本题按人计算。"),
        (_value(data, "non_prosecution_rate", data.year), "这是全部人员的不诉率，本题只看已逮捕的人。"),
    ]
    ok, hint = judge_number(answer, right, kind="rate", mistakes=mistakes)
    return _verdict(ok, hint, f"{_label(data.year)}捕后不诉率 {_pct(right)}：分母是本期审查起诉审结的已捕人员。",
                    "捕后不诉率要把审查逮捕和审查起诉连起来看（journeys 表），分母是捕后审结人数。")


@_exercise("02.4", "本年诉前羁押率：口径A减口径B（百分点）", "一个数（百分点）")
def _check_02_4(answer, data: TrainingData):
    a = _value(data, "pre_charge_detention_rate_a", data.year)
    b = _value(data, "pre_charge_detention_rate_b", data.year)
    right = (a - b) * 100
    ok, hint = judge_number(answer, right, kind="pp", mistakes=[
        ((b - a) * 100, "减反了：本题是口径A减口径B。"),
        ((a - b), "这是两个小数之差；百分点 = 两个百分数之差，要乘以一百。"),
        (a * 100, "这是口径A本身（百分数），本题问两个口径之差。"),
    ])
    return _verdict(ok, hint, f"口径A {_pct(a)}、口径B {_pct(b)}：同一个名称，两个口径相差 "
                              f"{right:+.1f} 个百分点。报告中必须写明采用哪个口径，且不能与另一口径的数据比较。",
                    "分别计算 pre_charge_detention_rate_a 和 pre_charge_detention_rate_b，再相减并换算为百分点。")


@_exercise("02.5", "本年审结审查起诉的件数", "一个整数")
def _check_02_5(answer, data: TrainingData):
    right = _value(data, "closed_prosecution_review", data.year, unit="case")
    ok, hint = judge_number(answer, right, kind="count", mistakes=[
        (_value(data, "closed_prosecution_review", data.year), "这是人数。本题问件数（部门受案号去重）。"),
        (_value(data, "accepted_prosecution_review", data.year, unit="case"), "这是受理件数。本题问审结件数（按审结日期）。"),
        (_value(data, "accepted_prosecution_review", data.year), "这是受理人数。本题问审结件数。"),
    ])
    persons = _value(data, "closed_prosecution_review", data.year)
    return _verdict(ok, hint, f"{_label(data.year)}审结审查起诉 {right:,.0f} 件、{persons:,.0f} 人。",
                    "用 closed_prosecution_review 指标，count_unit=\"case\"。")


# ---------------------------------------------------------------------------------------------
# Session 03 — 同比环比与趋势
# ---------------------------------------------------------------------------------------------


@_exercise("03.1", "最后一个季度的环比期间代码", "期间代码文字")
def _check_03_1(answer, data):
    from casework.analysis import periods

    q = periods.parse(data.quarter)
    right = q.previous().code
    a = _text(answer).upper()
    if a == right.upper():
        return True, f"{q.label_zh}的环比期间是{q.previous().label_zh}，同比期间是{q.year_ago().label_zh}。"
    if a == q.year_ago().code.upper():
        return False, "这是同比期间（去年同期）。环比是紧挨着的上一个期间。"
    if a == q.code.upper():
        return False, "这是本期本身。环比要和上一个期间比。"
    try:
        p = periods.parse(a)
    except CaseworkError:
        return False, "不是有效的期间代码：季度写成“年份-Q季度”的形式（看 periods.parse 的说明）。"
    if p.kind != q.kind:
        return False, "期间类型不对：本期是季度，环比期间也应是季度。"
    return False, "用 periods.parse(data.quarter).previous() 求环比期间。"


@_exercise("03.2", "最后一个季度受理审查起诉人数的同比变化（%）", "一个数（百分比）")
def _check_03_2(answer, data: TrainingData):
    row = _panel(data, "accepted_prosecution_review", data.quarter).iloc[0]
    right = float(row["year_ago_change"])
    ok, hint = judge_number(answer, right, kind="percent", mistakes=[
        (float(row["previous_change"]), "这是环比变化（和上一季度比）。同比是和去年同一季度比。"),
        (float(row["value"] - row["year_ago_value"]), "这是人数之差。同比变化用百分比：(本期 − 去年同期) ÷ 去年同期。"),
    ])
    return _verdict(ok, hint, f"{_label(data.quarter)}受理审查起诉 {row['value']:,.0f} 人，去年同期 "
                              f"{row['year_ago_value']:,.0f} 人，同比 {right:+.1f}%。",
                    "panel.compute 的 year_ago_change 列就是同比变化（人数类指标为百分比）。")


@_exercise("03.3", "最后一个季度不捕率的环比变化（百分点）", "一个数（百分点）")
def _check_03_3(answer, data: TrainingData):
    row = _panel(data, "non_arrest_rate", data.quarter).iloc[0]
    right = float(row["previous_change"])
    prev = float(row["previous_value"])
    rel = (float(row["value"]) - prev) / prev * 100 if prev else float("nan")
    ok, hint = judge_number(answer, right, kind="pp", mistakes=[
        (rel, "这是相对变化（百分比）。比率的变化用百分点：两个百分数直接相减。"),
        (float(row["year_ago_change"]), "这是同比变化。环比是和上一季度比。"),
    ])
    return _verdict(ok, hint, f"不捕率由{_pct(prev)}变为{_pct(float(row['value']))}，环比 {right:+.1f} 个百分点。",
                    "panel.compute 的 previous_change 列：比率类指标的变化单位是百分点。")


def _yes_no(answer) -> bool:
    if isinstance(answer, (bool, np.bool_)):
        return bool(answer)
    a = _text(answer).lower()
    if a in ("是", "对", "超出", "显著", "true", "yes", "y", "1"):
        return True
    if a in ("否", "不", "不是", "没有", "未超出", "不显著", "false", "no", "n", "0"):
        return False
    raise _BadAnswer("请填 True（是）或 False（否）")


@_exercise("03.4", "上题的环比变化是否超出随机波动", "True 或 False")
def _check_03_4(answer, data: TrainingData):
    row = _panel(data, "non_arrest_rate", data.quarter).iloc[0]
    right = bool(row["previous_notable"])
    p = float(row["previous_p_value"])
    got = _yes_no(answer)
    if got == right:
        if right:
            return True, f"两比例检验 P={p:.3f}，小于 0.05：这次变化超出了随机波动能够解释的范围，值得分析原因。"
        return True, f"两比例检验 P={p:.3f}，不小于 0.05：这样大小的变化随机波动就能产生，不宜在报告中作为“明显变化”。"
    if got:
        return False, "看 previous_p_value：只有 P 值小于 0.05（previous_notable 为 True）才算超出随机波动。变化的数值看起来大，不等于真有变化。"
    return False, "看 previous_p_value 和 previous_notable：检验结果说明这次变化超出了随机波动。"


# --- detections used by the final exercises ----------------------------------------------------


def _scan(data: TrainingData, indicator: str, by):
    from casework.analysis import monitor

    def run():
        ch = monitor.scan(data.records, indicators=indicator, by=list(by), end=data.end,
                          months=SCAN_MONTHS, journeys=data.journeys)
        return monitor.flags(ch)
    return data.cached(("scan", indicator, tuple(by)), run)


def _episodes(fl: pd.DataFrame, *, adverse_only: bool, up: bool | None = None) -> pd.DataFrame:
    if fl.empty:
        return fl
    keep = pd.Series(True, index=fl.index)
    if adverse_only:
        keep &= fl["adverse"].astype(bool)
    if up is True:
        keep &= fl["side"] > 0
    return fl[keep]


def _unit_names(data: TrainingData) -> dict:
    return dict(zip(data.units["unit_code"], data.units["unit_name"]))


def _unit_short(name: str) -> str:
    return re.sub(r"人民检察院$", "", re.sub(r"^.*?市", "", str(name)))


def _mentions_unit(answer: str, code: str, name: str) -> bool:
    short = _unit_short(name)
    return code in answer or name in answer or (short and short in answer) or \
        (short.endswith("区") and short[:-1] in answer and len(short) > 2)


def _station_hits(data, frame, answer):
    """Rows of ``frame`` (with referring_agency, police_station) that ``answer`` names."""
    hits = []
    all_st = data.records[["referring_agency", "police_station"]].dropna().drop_duplicates()
    for _, row in frame.iterrows():
        st = str(row["police_station"])
        if not st or st == "nan" or st not in answer:
            continue
        same = all_st[all_st["police_station"] == st]
        if len(same) > 1:
            ag = re.sub(r"^.*?公安局", "", str(row["referring_agency"]))
            if ag not in answer and str(row["referring_agency"]) not in answer:
                continue
        hits.append(row)
    return hits


def _ambiguous_station(data, answer) -> str | None:
    """A station name in ``answer`` that several agencies have, when no agency is named."""
    st = data.records[["referring_agency", "police_station"]].dropna().drop_duplicates()
    for name, grp in st.groupby("police_station"):
        if str(name) in answer and len(grp) > 1:
            agencies = [str(a) for a in grp["referring_agency"]]
            if not any(a in answer or re.sub(r"^.*?公安局", "", a) in answer for a in agencies):
                return str(name)
    return None


def _final(answer, findings: list[dict], weak: list[dict], *, what: str, how: str, context: str = ""):
    """Verdict of a final exercise. ``findings``: dicts with ``match`` (callable on the answer
    text) and ``say`` (the sentence when it matches); ``weak``: the same for short signals."""
    a = _text(answer)
    if a.lower() in _NONE_WORDS:
        if not findings:
            return True, f"本数据中按本讲的方法没有发现持续的异常{what}——没有信号也是一种需要写明的结论。"
        return False, f"数据中确有值得核查的{what}。{how}"
    for f in findings:
        if f["match"](a):
            groups = {g.get("group", id(g)) for g in findings}
            more = len(groups) - 1
            tail = f"数据中另有 {more} 个同类信号，可以继续找。" if more > 0 else ""
            return True, f["say"] + tail
    if context:
        return False, context
    for w in weak:
        if w["match"](a):
            return False, w["say"]
    if not findings:
        return False, (f"本数据中按本讲的方法没有发现持续的异常{what}。如果你的分析也没有发现，请填 \"无\"。")
    return False, f"“{a}”没有被识别为持续的异常{what}。{how}"


def _rising_charges(data: TrainingData) -> pd.DataFrame:
    fl = _episodes(_scan(data, "accepted_prosecution_review", ("charge",)), adverse_only=False, up=True)
    return fl[fl["months_flagged"] >= SUSTAINED_MONTHS] if len(fl) else fl


def _bail_stations(data: TrainingData) -> tuple[pd.DataFrame, pd.DataFrame]:
    fl = _episodes(_scan(data, "post_arrest_bail_rate", ("unit_code", "referring_agency", "police_station")),
                   adverse_only=True, up=True)
    if not len(fl):
        return fl, fl
    return fl[fl["months_flagged"] >= SUSTAINED_MONTHS], fl[fl["months_flagged"] < SUSTAINED_MONTHS]


@_exercise("03.5", "在月度监测中找出一个持续的异常信号（罪名或派出所）", "罪名或派出所名称；没有发现则填 \"无\"")
def _check_03_5(answer, data: TrainingData):
    findings, weak = [], []
    charges = _episodes(_scan(data, "accepted_prosecution_review", ("charge",)), adverse_only=False, up=True)
    for _, row in charges.iterrows():
        c = str(row["charge"])
        entry = {"match": (lambda a, c=c: _charge_key(a) == _charge_key(c))}
        if row["months_flagged"] >= SUSTAINED_MONTHS:
            entry["say"] = (f"{c}：受理审查起诉人数自{row['flag_since']}起持续高于控制上限或累积上移"
                            f"（{row['first_month']}至{row['last_month']}共 {row['months_flagged']} 个月有信号；"
                            f"{row['rules_zh']}）。下一步：看该罪名的案情摘要，找新的作案手段（第五讲）。")
            findings.append(entry)
        else:
            entry["say"] = (f"{c}只在 {row['months_flagged']} 个月出现信号（{row['rules_zh']}），"
                            "不是持续的变化，单个月份的信号常是随机波动。")
            weak.append(entry)
    sustained, short = _bail_stations(data)
    for frame, bucket in ((sustained, findings), (short, weak)):
        for _, row in frame.iterrows():
            st = str(row["police_station"])
            label = f"{re.sub(r'^.*?公安局', '', str(row['referring_agency']))}{st}"
            entry = {"match": (lambda a, r=row: bool(_station_hits(data, pd.DataFrame([r]), a)))}
            if bucket is findings:
                entry["say"] = (f"{label}：捕后取保候审率自{row['flag_since']}起持续偏高"
                                f"（{row['months_flagged']} 个月有信号；{row['rules_zh']}）。"
                                "下一步：与侦查机关核实变更强制措施的理由（第四讲的横向对比可以印证）。")
            else:
                entry["say"] = f"{label}只在 {row['months_flagged']} 个月出现信号，不是持续的变化。"
            bucket.append(entry)
    amb = _ambiguous_station(data, _text(answer))
    ctx = f"不止一个移送机关下有{amb}：请写明是哪个分局的{amb}。" if amb else ""
    return _final(answer, findings, weak, what="信号",
                  how=("用 monitor.scan 按罪名扫描受理审查起诉人数、按派出所扫描捕后取保候审率，"
                       "再用 monitor.flags 看哪些信号持续了多个月且延续到最近。"), context=ctx)


# ---------------------------------------------------------------------------------------------
# Session 04 — 横向对比
# ---------------------------------------------------------------------------------------------

_DEPT = ("unit_code", "department")


def _dept_panel(data: TrainingData) -> pd.DataFrame:
    return _panel(data, "non_prosecution_rate", data.year, by=_DEPT)


def _dept_funnel(data: TrainingData) -> pd.DataFrame:
    from casework.analysis import compare

    return data.cached("dept_funnel", lambda: compare.funnel(_dept_panel(data), by=list(_DEPT)))


def _dept_horizontal(data: TrainingData, adjust: str) -> pd.DataFrame:
    from casework.analysis import compare

    return data.cached(("dept_horizontal", adjust), lambda: compare.horizontal(
        data.records, period=data.year, by=list(_DEPT), indicators=["non_prosecution_rate"],
        adjust=adjust))


@_exercise("04.1", "本年不诉率最高的部门，其分母（人数）是多少", "一个整数")
def _check_04_1(answer, data: TrainingData):
    pn = _dept_panel(data)
    pn = pn[pn["denominator"] > 0]
    top = pn[pn["value"] == pn["value"].max()]
    x = _number(answer)
    if any(_close(x, float(d), "count") for d in top["denominator"]):
        big = float(pn["denominator"].median())
        first = top.iloc[0]
        return True, (f"不诉率最高的是{_unit_short(_unit_names(data).get(first['unit_code'], ''))}院"
                      f"{first['department']}（{_pct(float(first['value']))}），分母只有 {first['denominator']:,.0f} 人，"
                      f"而各部门分母的中位数是 {big:,.0f} 人。排在最前（或最后）的常常是人数少、波动大的部门。")
    if any(_close(x, float(n), "count") for n in top["numerator"]):
        return False, "这是分子（不起诉人数）。本题问分母：起诉与不起诉人数之和。"
    return False, "用 panel.compute 按 unit_code 和 department 计算不诉率，找出 value 最大的一行，看它的 denominator。"


@_exercise("04.2", "漏斗图上超出 99.8% 控制限的部门有几个（未调整案件结构）", "一个整数")
def _check_04_2(answer, data: TrainingData):
    fu = _dept_funnel(data)
    eligible = ~fu["below_min_n"].astype(bool)
    right = int(((fu["flag"] == "alarm") & eligible).sum())
    ok, hint = judge_number(answer, right, kind="count", mistakes=[
        (int(((fu["flag"] != "") & eligible).sum()),
         "这还包括了只超出 95% 控制限的部门（alert）。本题只数 99.8%（alarm）。"),
        (int(((fu["flag"] == "alarm") & eligible & (fu["flag_direction"] == "high")).sum()),
         "你只数了偏高的。偏低同样超出控制限，也要数上。"),
    ])
    return _verdict(ok, hint, f"未调整时有 {right} 个部门超出 99.8% 控制限（共 {int(eligible.sum())} 个部门参与比较）。"
                              "下一题看看调整案件结构之后还剩几个。",
                    "对上一题的 panel 结果调用 compare.funnel(..., by=[\"unit_code\", \"department\"])，"
                    "数 flag 为 \"alarm\" 的行。")


@_exercise("04.3", "按案件结构调整后，不诉率超出 99.8% 控制限的部门有几个", "一个整数")
def _check_04_3(answer, data: TrainingData):
    h = _dept_horizontal(data, "case_mix")
    el = ~h["below_min_n"].astype(bool)
    right = int(((h["flag"] == "alarm") & el).sum())
    crude = _dept_funnel(data)
    h0 = _dept_horizontal(data, "none")
    ok, hint = judge_number(answer, right, kind="count", mistakes=[
        (int(((crude["flag"] == "alarm") & ~crude["below_min_n"].astype(bool)).sum()),
         "这是未调整案件结构的结果（上一题）。用 compare.horizontal，adjust 保持默认的 \"case_mix\"。"),
        (int(((h0["flag"] == "alarm") & ~h0["below_min_n"].astype(bool)).sum()),
         "这是 adjust=\"none\" 的结果。本题要按案件结构调整（adjust=\"case_mix\"）。"),
        (int(((h["flag"] != "") & el).sum()), "这还包括了只超出 95% 控制限的部门。本题只数 99.8%。"),
    ])
    n0 = int(((crude["flag"] == "alarm") & ~crude["below_min_n"].astype(bool)).sum())
    return _verdict(ok, hint, f"调整前 {n0} 个、调整后 {right} 个部门超出 99.8% 控制限：各部门办理的罪名、"
                              "认罪认罚、未成年人等构成不同，不诉率本来就不同。比较前先调整案件结构。",
                    "compare.horizontal(data.records, period=data.year, by=[\"unit_code\", \"department\"], "
                    "indicators=[\"non_prosecution_rate\"])，数 flag 为 \"alarm\" 的行。")


@_exercise("04.4", "不诉率最高的部门，排名区间的上限（最差可能排第几）", "一个整数")
def _check_04_4(answer, data: TrainingData):
    from casework.analysis import compare

    sh = data.cached("dept_shrink", lambda: compare.shrink(_dept_panel(data), by=list(_DEPT)))
    el = sh[~sh["below_min_n"].astype(bool)]
    top = el[el["value"] == el["value"].max()]
    x = _number(answer)
    if any(_close(x, float(v), "count") for v in top["rank_upper"]):
        row = top.iloc[0]
        return True, (f"不诉率最高的部门，合理的名次在第 {int(row['rank_lower'])} 到第 {int(row['rank_upper'])} 名之间"
                      f"（共 {len(el)} 个部门）。名次本身就不确定，所以报告只讲与总体的差异是否超出随机波动，不排名。")
    if any(_close(x, float(v), "count") for v in top["rank_lower"]):
        return False, "这是排名区间的下限（最好可能排第几）。本题问上限 rank_upper。"
    return False, "用 compare.shrink 处理第一题的 panel 结果，找出 value 最大的部门，看 rank_upper。"


def _station_alarms(data: TrainingData) -> pd.DataFrame:
    from casework.analysis import compare

    return data.cached("station_horizontal", lambda: compare.horizontal(
        data.records, period=data.year, by=["referring_agency", "police_station"],
        indicators=["post_arrest_bail_rate"], journeys=data.journeys))


def _slow(data: TrainingData) -> pd.DataFrame:
    from casework.analysis import workload

    return data.cached("handling_days", lambda: workload.handling_days(
        data.records, by="prosecutor_id", period=data.year, stage="prosecution_review"))


@_exercise("04.5", "找出一个明显偏离同类的派出所或检察官", "派出所或检察官姓名；没有发现则填 \"无\"")
def _check_04_5(answer, data: TrainingData):
    findings, weak = [], []
    st = _station_alarms(data)
    st = st[~st["below_min_n"].astype(bool) & (st["flag"] != "") & (st["flag_direction"] == "high")]
    for _, row in st.iterrows():
        entry = {"match": (lambda a, r=row: bool(_station_hits(data, pd.DataFrame([r]), a)))}
        if row["flag"] == "alarm":
            entry["say"] = (f"{row['label']}：{_label(data.year)}捕后取保候审率 {_pct(float(row['crude_value']))}"
                            f"（{row['numerator']:,.0f}/{row['denominator']:,.0f} 人），是按案件结构预期的 "
                            f"{float(row['value']):.1f} 倍，超出 99.8% 控制限。下一步：compare.flagged_cases 调出案件逐件核查。")
            findings.append(entry)
        else:
            entry["say"] = f"{row['label']}只超出 95% 控制限（预警），证据还不够强；看看有没有超出 99.8% 的。"
            weak.append(entry)
    hd = _slow(data)
    hd = hd[~hd["below_min_n"].astype(bool) & (hd["flag"] != "") & (hd["flag_direction"] == "high")]
    for _, row in hd.iterrows():
        pid, name = str(row["prosecutor_id"]), str(row.get("prosecutor_name", ""))
        entry = {"match": (lambda a, pid=pid, name=name: pid in a or (name != "" and name != "nan" and name in a))}
        if row["flag"] == "alarm":
            entry["say"] = (f"检察官{name}（{pid}）：{_label(data.year)}审查起诉平均办案 {row['mean_days']:.1f} 天，"
                            f"同类案件预期 {row['expected_mean_days']:.1f} 天，为预期的 {float(row['value']):.2f} 倍，"
                            "超出 99.8% 控制限。下一步：看其在办案件和退查、延长情况，而不是简单排名。")
            findings.append(entry)
        else:
            entry["say"] = f"检察官{name}只超出 95% 控制限（预警），证据还不够强；看看有没有超出 99.8% 的。"
            weak.append(entry)
    amb = _ambiguous_station(data, _text(answer))
    ctx = f"不止一个移送机关下有{amb}：请写明是哪个分局的{amb}。" if amb else ""
    return _final(answer, findings, weak, what="对象",
                  how=("用 compare.horizontal 按派出所（referring_agency、police_station）比较捕后取保候审率，"
                       "用 workload.handling_days 按检察官比较审查起诉办案天数，找超出 99.8% 控制限且偏高的。"),
                  context=ctx)


# ---------------------------------------------------------------------------------------------
# Session 05 — 专题分析
# ---------------------------------------------------------------------------------------------


@_exercise("05.1", "本年受理审查起诉人数最多的罪名", "罪名")
def _check_05_1(answer, data: TrainingData):
    pn = _panel(data, "accepted_prosecution_review", data.year, by=("charge",))
    top = pn[pn["value"] == pn["value"].max()]
    a = _charge_key(answer)
    if a in {_charge_key(c) for c in top["charge"]}:
        share = float(top["value"].iloc[0]) / float(pn["value"].sum())
        return True, (f"{top['charge'].iloc[0]}：{_label(data.year)}受理审查起诉 {top['value'].iloc[0]:,.0f} 人，"
                      f"占全部的 {share:.1%}。")
    pc = _panel(data, "accepted_prosecution_review", data.year, by=("charge",), unit="case")
    if a in {_charge_key(c) for c in pc.loc[pc["value"] == pc["value"].max(), "charge"]}:
        return False, "按件数它最多；本题按人数。"
    pa = _panel(data, "accepted_arrest_review", data.year, by=("charge",))
    if a in {_charge_key(c) for c in pa.loc[pa["value"] == pa["value"].max(), "charge"]}:
        return False, "这是审查逮捕受理人数最多的罪名；本题问审查起诉。"
    return False, "用 panel.compute 按 charge 计算 accepted_prosecution_review，找 value 最大的一行。"


@_exercise("05.2", "本年盗窃案件中外地人员的占比", "一个比率（小数）")
def _check_05_2(answer, data: TrainingData):
    from casework.analysis.topics import recurring

    def run():
        cases = recurring.topic_cases(data.records, charges="盗窃", period=data.year)
        return recurring.profile(cases, dimensions=["household"])
    prof = data.cached("theft_household", run)
    row = prof[prof["category_zh"] == "外地"].iloc[0]
    local = prof[prof["category_zh"] == "本地"].iloc[0]
    right = float(row["topic_share"])
    ok, hint = judge_number(answer, right, kind="rate", mistakes=[
        (float(row["other_share"]), "这是其他案件中外地人员的占比。本题问盗窃案件。"),
        (float(local["topic_share"]), "这是本地人员的占比。"),
    ])
    sig = "差异超出随机波动" if float(row["p_value"]) < 0.05 else "差异在随机波动范围内"
    return _verdict(ok, hint, f"盗窃案件中外地人员占 {right:.1%}，其他案件为 {float(row['other_share']):.1%}（{sig}）。"
                              "写特点时要和其他案件比，不能只报一个占比。",
                    "用 recurring.topic_cases 选出本年的盗窃案件，再用 recurring.profile(..., dimensions=[\"household\"])。")


@_exercise("05.3", "本年危险驾驶判决的缓刑适用率", "一个比率（小数）")
def _check_05_3(answer, data: TrainingData):
    from casework.analysis.topics import sentencing

    j = data.cached("dui_judgments", lambda: sentencing.judgments(data.records, period=data.year,
                                                                     charges="危险驾驶"))
    row = sentencing.probation_rate(j, by=None).iloc[0]
    right = float(row["value"])
    all_judged = float(row["numerator"]) / max(len(j), 1)
    ok, hint = judge_number(answer, right, kind="rate", mistakes=[
        (all_judged, "分母不对：缓刑适用率的分母只含判处拘役或有期徒刑的人（免予刑事处罚、单处罚金、无罪不计入）。"),
        (1 - right, "这是未适用缓刑的比例。"),
    ])
    return _verdict(ok, hint, f"{_label(data.year)}危险驾驶判处拘役或有期徒刑 {row['denominator']:,.0f} 人，"
                              f"其中缓刑 {row['numerator']:,.0f} 人，缓刑适用率 {right:.1%}。",
                    "sentencing.judgments(data.records, period=data.year, charges=\"危险驾驶\")，"
                    "再用 sentencing.probation_rate(..., by=None)。")


_NUM_RE = re.compile(r"[-+−]?\d+(?:\.\d+)?")


@_exercise("05.4", "用一句话写出本年量刑建议采纳率及其同比变化", "一句中文（文字）")
def _check_05_4(answer, data: TrainingData):
    if not isinstance(answer, str):
        raise _BadAnswer("请写一句话（文字）")
    row = _panel(data, "recommendation_adoption_rate", data.year).iloc[0]
    value = float(row["value"]) * 100
    change = float(row["year_ago_change"])
    notable = bool(row["year_ago_notable"])
    nums = [float(x.replace("−", "-")) for x in _NUM_RE.findall(unicodedata.normalize("NFKC", answer))]
    has_value = any(abs(abs(x) - value) <= 0.06 for x in nums)
    has_change = any(abs(abs(x) - abs(change)) <= 0.06 for x in nums)
    text = answer
    down = (any(w in text for w in ("下降", "降低", "减少", "回落"))
            or any(x < 0 and abs(abs(x) - abs(change)) <= 0.06 for x in nums))
    up = any(w in text for w in ("上升", "提高", "增加", "上涨"))
    problems = []
    if not has_value:
        problems.append("句中没有本年的采纳率（保留一位小数的百分数）")
    if not has_change:
        problems.append("句中没有同比变化的幅度")
    elif "百分点" not in text:
        problems.append("比率的变化要用“百分点”作单位")
    elif "持平" in text and not ((change < 0 and down) or (change > 0 and up)):
        if notable:
            problems.append("这次变化超出了随机波动（同比检验显著），不宜写成“持平”，要写明上升或下降")
    elif change != 0 and not ((change < 0 and down) or (change > 0 and up)):
        reversed_ = (change < 0 and up) or (change > 0 and down)
        problems.append("变化的方向写反了" if reversed_ else "要写明是上升还是下降（变化在随机波动范围内时写“基本持平”）")
    if problems:
        return False, "；".join(problems) + "。数字都要来自计算结果（panel.compute 的 value 与 year_ago_change）。"
    return True, ("数字与计算结果一致。报告中的句子由计算值生成（narrative.indicator_sentence 或 page.say），"
                  "数据更新时句子跟着更新；变化在随机波动范围内时写“基本持平”。")


def _adoption_units(data: TrainingData):
    fl = _episodes(_scan(data, "recommendation_adoption_rate", ("unit_code",)), adverse_only=True)
    if not len(fl):
        return fl, fl
    return fl[fl["months_flagged"] >= SUSTAINED_MONTHS], fl[fl["months_flagged"] < SUSTAINED_MONTHS]


def _emerging(data: TrainingData) -> dict:
    from casework.analysis.topics import recurring

    def run():
        out = {}
        for c in _rising_charges(data)["charge"].astype(str).unique().tolist():
            t = recurring.emerging_terms(data.records, charges=c, period=data.year, top=TERMS)
            out[c] = [str(x) for x in t["term"]] if len(t) else []
        return out
    return data.cached("emerging", run)


@_exercise("05.5", "找出一条专题线索：采纳率持续下降的单位，或上升罪名的新作案手段", "单位名称或作案手段词；没有发现则填 \"无\"")
def _check_05_5(answer, data: TrainingData):
    findings, weak = [], []
    names = _unit_names(data)
    sustained, short = _adoption_units(data)
    for frame, bucket in ((sustained, findings), (short, weak)):
        for _, row in frame.iterrows():
            code = str(row["unit_code"])
            name = names.get(code, code)
            entry = {"match": (lambda a, code=code, name=name: _mentions_unit(a, code, name))}
            if bucket is findings:
                entry["say"] = (f"{name}：量刑建议采纳率自{row['flag_since']}起持续低于控制下限或累积下移"
                                f"（{row['months_flagged']} 个月有信号；{row['rules_zh']}）。"
                                "下一步：按罪名、承办部门和法院拆分，看采纳率下降集中在哪里。")
            else:
                entry["say"] = f"{name}只在 {row['months_flagged']} 个月出现信号，不是持续的变化。"
            bucket.append(entry)
    for charge, terms in _emerging(data).items():
        for term in terms:
            if len(term) < 2:
                continue
            findings.append({
                "group": ("terms", charge),
                "match": (lambda a, t=term: t in a or (len(a) >= 2 and a in t)),
                "say": (f"“{term}”是{charge}案件在{_label(data.year)}新出现的作案手段词（与此前的{charge}案件相比）。"
                        f"写进报告时配上例句和人数，并说明与{charge}案件增长的关系。"),
            })
    return _final(answer, findings, weak, what="线索",
                  how=("用 monitor.scan 按单位扫描量刑建议采纳率；或先找出上升的罪名（第三讲），"
                       "再用 recurring.emerging_terms 比较它本年与此前的案情摘要。"))


# ---------------------------------------------------------------------------------------------
# Session 06 — 案卡质量与修改审核
# ---------------------------------------------------------------------------------------------


def _findings(data: TrainingData) -> pd.DataFrame:
    from casework.analysis import quality

    return data.cached("findings", lambda: quality.run_rules(data.records))


def _year_rates(data: TrainingData, level: str = "error", by=("unit_code",)) -> pd.DataFrame:
    from casework.analysis import quality

    return data.cached(("error_rates", level, tuple(by)), lambda: quality.error_rates(
        _findings(data), data.records, by=list(by), level=level, months=_months(data.year)))


def _year_findings(data: TrainingData, level: str = "error") -> pd.DataFrame:
    f = _findings(data)
    sev = f["severity"] == "error" if level == "error" else f["severity"].isin(["warning", "error"])
    return f[sev & f["month"].isin(_months(data.year))]


@_exercise("06.1", "本年有错误级问题的案卡有多少张", "一个整数")
def _check_06_1(answer, data: TrainingData):
    rates = _year_rates(data)
    right = int(rates["numerator"].sum())
    fy = _year_findings(data)
    ok, hint = judge_number(answer, right, kind="count", mistakes=[
        (len(fy), "这是问题条数。一张案卡可能同时违反几条规则；本题数的是有问题的案卡。"),
        (int(_year_rates(data, "warning")["numerator"].sum()), "这把“警告”级也算进去了；本题只算“错误”级。"),
        (fy["dept_case_no"].nunique(), "这是件数（部门受案号）。案卡是一人一张。"),
    ])
    return _verdict(ok, hint, f"{_label(data.year)}共 {right:,} 张案卡有错误级问题（问题 {len(fy):,} 条）。",
                    "quality.run_rules 得到问题清单后，用 quality.error_rates(..., months=本年各月) 的 numerator 合计。")


@_exercise("06.2", "本年出现最多的错误级规则", "规则编号 rule_id 或规则说明")
def _check_06_2(answer, data: TrainingData):
    from casework.analysis import quality

    counts = quality.rule_counts(_year_findings(data))
    top = counts[counts["findings"] == counts["findings"].max()]
    a = _text(answer)
    if a in {str(x) for x in top["rule_id"]} | {_text(x) for x in top["message_zh"]}:
        row = top.iloc[0]
        return True, f"{row['message_zh']}（{row['rule_id']}）：{_label(data.year)}共 {int(row['findings']):,} 条。"
    allc = quality.rule_counts(_findings(data))
    allc = allc[allc["severity"] == "error"]
    if a in {str(x) for x in allc.loc[allc["findings"] == allc["findings"].max(), "rule_id"]}:
        return False, "这是全部数据中最多的规则；本题只看本年（data.year）的案卡。"
    return False, "把问题清单限定在本年、错误级，再用 quality.rule_counts 看 findings 最多的规则。"


@_exercise("06.3", "本年错误级案卡差错率（全部单位）", "一个比率（小数）")
def _check_06_3(answer, data: TrainingData):
    rates = _year_rates(data)
    num, den = float(rates["numerator"].sum()), float(rates["denominator"].sum())
    right = num / den
    ok, hint = judge_number(answer, right, kind="rate", mistakes=[
        (len(_year_findings(data)) / den, "分子是有问题的案卡数，不是问题条数。"),
        (float(_year_rates(data, "warning")["numerator"].sum()) / den, "这把“警告”级也算进去了；本题只算“错误”级。"),
    ])
    return _verdict(ok, hint, f"差错率 {right:.2%}（{num:,.0f}/{den:,.0f} 张案卡）。",
                    "差错率 = 有错误的案卡 ÷ 案卡数：对 quality.error_rates 的 numerator 与 denominator 分别求和再相除。")


def _audit(data: TrainingData) -> pd.DataFrame:
    from casework.analysis import modifications as mods

    return data.cached("audit", lambda: mods.audit(data.modifications, data.records))


@_exercise("06.4", "审结后修改关键项的修改记录有多少条", "一个整数")
def _check_06_4(answer, data: TrainingData):
    fl = _audit(data)
    cc = fl[fl["flag"] == "closed_case_edit"]
    right = len(cc)
    ok, hint = judge_number(answer, right, kind="count", mistakes=[
        (cc["dept_case_no"].nunique(), "这是涉及的案件数。本题数修改记录（条）。"),
        (len(fl), "这是全部四类提示的合计。本题只数“审结后修改关键项”（closed_case_edit）。"),
        (len(data.modifications), "这是全部修改记录。本题只数审结后修改关键项的。"),
    ])
    return _verdict(ok, hint, f"共 {right:,} 条审结后修改关键项的记录，涉及 {cc['dept_case_no'].nunique():,} 件、"
                              f"{cc['account'].nunique():,} 个账号。",
                    "modifications.audit(data.modifications, data.records)，数 flag 为 \"closed_case_edit\" 的行。")


@_exercise("06.5", "找出一个需要核查的对象：差错集中的承办部门，或大量修改已审结案件的账号",
           "单位+部门，或账号；没有发现则填 \"无\"")
def _check_06_5(answer, data: TrainingData):
    from casework.analysis import modifications as mods

    findings, weak = [], []
    names = _unit_names(data)
    rates = _year_rates(data, by=_DEPT)
    for _, row in rates[rates["position"].isin(["high_alarm", "high_alert"])].iterrows():
        code, dept = str(row["unit_code"]), str(row["department"])
        name = names.get(code, code)
        entry = {"match": (lambda a, code=code, name=name, dept=dept: dept in a and _mentions_unit(a, code, name))}
        if row["position"] == "high_alarm":
            entry["say"] = (f"{name}{dept}：{_label(data.year)}错误级差错率 {float(row['value']):.1%}"
                            f"（{int(row['numerator'])}/{int(row['denominator'])} 张），超出 99.8% 控制限。"
                            "下一步：用 quality.error_trend 看差错集中在哪几个月，用 quality.circular 生成通报。")
            findings.append(entry)
        else:
            entry["say"] = f"{name}{dept}只超出 95% 控制限（预警），证据还不够强；看看有没有超出 99.8% 的。"
            weak.append(entry)
    acc = data.cached("accounts", lambda: mods.account_flags(_audit(data), data.modifications,
                                                             flag="closed_case_edit"))
    for _, row in acc[acc["flagged"]].iterrows():
        account = str(row["account"])
        findings.append({
            "match": (lambda a, account=account: account in a),
            "say": (f"账号 {account}：{int(row['numerator'])} 条修改（占其全部修改的 {float(row['value']):.1%}）"
                    "是在案件审结后修改关键项，远高于其他账号。下一步：逐条核对修改依据和审批记录。"),
        })
    a = _text(answer)
    ctx = ""
    if any(str(d) in a for d in rates["department"].unique()) and \
            not any(_mentions_unit(a, c, n) for c, n in names.items()):
        ctx = "各院都有这个部门：请同时写明是哪个院的部门。"
    return _final(answer, findings, weak, what="对象",
                  how=("用 quality.error_rates 按 unit_code 和 department 比较本年的差错率，"
                       "或用 modifications.account_flags 看哪个账号审结后修改关键项的比例异常。"),
                  context=ctx)
