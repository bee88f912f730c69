"""Answer handling of the training checks: the exercise registry (:func:`register`,
:func:`exercises`, :func:`check`), :class:`Feedback`, reading and judging an answer
(:func:`judge_number`, :func:`as_number`, :func:`as_text` …) and the indicator computations
the checks share (cached on the data).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import numpy as np
import pandas as pd

from casework.analysis import panel, periods
from casework.base.errors import ParameterError
from casework.training.data import Exports, TrainingData, md_literal

#: Answers that mean "nothing found" in the final exercises.
NONE_WORDS = {"无", "没有", "没有发现", "未发现", "无异常", "none", "no", "nothing"}

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
        body = "\n\n".join(md_literal(line) for line in self.message.splitlines())
        return f"{head}\n\n{body}"

    def __str__(self) -> str:
        state = {None: "尚未作答", True: "正确", False: "再看看"}[self.correct]
        return f"练习 {self.exercise}：{state}。{self.message}"


class BadAnswer(Exception):
    """The answer has the wrong shape (a text where a number is wanted …)."""


@dataclass(frozen=True)
class Exercise:
    """One registered exercise: its code, session, title, the answer form and its check."""

    code: str
    session: str
    title_zh: str
    answer_zh: str
    fn: object


#: The registered exercises, by code.
EXERCISES: dict[str, Exercise] = {}

SESSIONS = {
    "01": "导入与清洗",
    "02": "指标口径",
    "03": "同比环比与趋势",
    "04": "横向对比",
    "05": "专题分析",
    "06": "案卡质量与修改审核",
}


def register(code: str, title_zh: str, answer_zh: str):
    """Decorator: register an answer check ``fn(answer, data) -> (ok, message)`` as exercise
    ``code``."""
    def register(fn):
        EXERCISES[code] = Exercise(code, code.split(".")[0], title_zh, answer_zh, fn)
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
            for e in EXERCISES.values() if session is None or e.session == str(session).zfill(2)]
    return pd.DataFrame(rows, columns=["exercise", "session", "session_zh", "title_zh",
                                       "answer_zh"])


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
    if code not in EXERCISES:
        raise ParameterError(f"没有练习 {code!r}，可选：{', '.join(EXERCISES)}",
                             f"no exercise {code!r}; available: {', '.join(EXERCISES)}")
    ex = EXERCISES[code]
    if answer is None or answer is Ellipsis or (isinstance(answer, str) and not answer.strip()):
        return Feedback(code, None, f"在上面的单元格中把 None 换成你的答案（{ex.answer_zh}），"
                                    "再运行本单元格。")
    want = Exports if ex.session == "01" else TrainingData
    if not isinstance(data, want):
        helper = "training.exports()" if ex.session == "01" else "training.load()"
        raise ParameterError(f"练习 {code} 需要 {helper} 返回的数据",
                             f"exercise {code} needs the data returned by {helper}")
    try:
        ok, message = ex.fn(answer, data)
    except BadAnswer as err:
        return Feedback(code, False, f"答案的形式不对：{err}（应为{ex.answer_zh}）")
    return Feedback(code, bool(ok), message)


def as_number(answer) -> float:
    """The answer as a number (``"23.5%"`` → 0.235); :class:`BadAnswer` when it is not one."""
    if isinstance(answer, (bool, np.bool_)):
        raise BadAnswer("这里要填一个数字，不是是/否")
    if isinstance(answer, str):
        text = answer.strip().replace(",", "").replace("，", "")
        is_pct = text.endswith("%")
        try:
            value = float(text.rstrip("%"))
        except ValueError:
            raise BadAnswer(f"无法把 {answer!r} 读成数字") from None
        return value / 100 if is_pct else value
    if isinstance(answer, (pd.Series, pd.DataFrame, np.ndarray, list, tuple)):
        arr = np.asarray(answer, dtype="object").ravel()
        if len(arr) != 1:
            raise BadAnswer("这里要填一个数字，不是一列或一张表（用 .iloc[0] 取出其中的值）")
        return as_number(arr[0])
    try:
        value = float(answer)
    except (TypeError, ValueError):
        raise BadAnswer(f"无法把 {answer!r} 读成数字") from None
    if not np.isfinite(value):
        raise BadAnswer("答案是空值（NaN）")
    return value


#: Tolerance of a right answer per kind of number.
TOLERANCE = {"rate": 6e-4, "pp": 0.06, "percent": 0.06, "count": 0.5, "days": 0.06, "ratio": 6e-3}


def is_close(x: float, y: float, kind: str) -> bool:
    """``x`` equals ``y`` within the tolerance of ``kind`` (:data:`TOLERANCE`)."""
    if y is None or not np.isfinite(y):
        return False
    return abs(x - y) <= TOLERANCE[kind] + 1e-12


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
    x = as_number(answer)
    if is_close(x, right, kind):
        return True, ""
    for value, hint in mistakes:
        if value is not None and np.isfinite(value) and not is_close(value, right, kind) \
                and is_close(x, value, kind):
            return False, hint
    if scale_hints and kind == "rate" and is_close(x / 100, right, kind):
        return False, ("数值像是百分数：比率请写成小数（百分之几十写成零点几），"
                       "或写成带百分号的文字。")
    if scale_hints and kind in ("pp", "percent") and is_close(x * 100, right, kind):
        return False, "数值像是小数：变化请用百分点（或百分比）表示，即乘以一百后的数。"
    if scale_hints and kind in ("pp", "percent") and is_close(-x, right, kind):
        return False, "方向反了：变化 = 本期 − 比较期，本期低于比较期时为负数。"
    return False, ""


def verdict(ok: bool, hint: str, good: str, generic: str) -> tuple[bool, str]:
    """``(True, good)`` when right, else ``(False, hint or generic)``."""
    if ok:
        return True, good
    return False, hint or generic


def as_text(answer) -> str:
    """The answer as one text, NFKC-normalised, without spaces."""
    if isinstance(answer, (pd.Series, pd.Index, np.ndarray, list, tuple)):
        arr = list(np.asarray(answer, dtype="object").ravel())
        if len(arr) != 1:
            raise BadAnswer("这里要填一个名称（文字），不是一列或多个值")
        answer = arr[0]
    if not isinstance(answer, str):
        answer = str(answer)
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", answer))


def charge_key(name) -> str:
    """A charge name for comparison: :func:`as_text` without a trailing 案件/案/罪."""
    s = as_text(name)
    for suffix in ("案件", "案", "罪"):
        if s.endswith(suffix) and len(s) > len(suffix) + 1:
            s = s[: -len(suffix)]
    return s


def pct(x) -> str:
    """``x`` as a per cent with one decimal (— when missing)."""
    return "—" if x is None or not np.isfinite(x) else f"{x:.1%}"


def month_codes(period) -> list[str]:
    """The month codes (``YYYY-MM``) of a period code."""
    return [m.code for m in periods.parse(period).months()]


def period_label(period) -> str:
    """The Chinese label of a period code."""
    return periods.parse(period).label_zh


# ---------------------------------------------------------------------------------------------
# Computations shared by checks (cached on the data)
# ---------------------------------------------------------------------------------------------


def panel_of(data: TrainingData, indicator: str, period, *, by=(), unit: str = "person"):
    """``panel.compute`` of one indicator on the training data (cached on the data)."""
    key = ("panel", indicator, str(period), tuple(by), unit)
    return data.cached(key, lambda: panel.compute(
        data.records, indicators=indicator, by=by, period=period, journeys=data.journeys,
        count_unit=unit))


def value_of(data, indicator, period, *, unit="person", column="value") -> float:
    """One column of the all-units panel row of ``indicator`` (NaN when missing)."""
    row = panel_of(data, indicator, period, unit=unit).iloc[0]
    v = row[column]
    return float(v) if v is not None and not pd.isna(v) else float("nan")


def closed_in(records: pd.DataFrame, period, column: str = "closed_on") -> pd.Series:
    """Boolean mask: ``column`` lies in ``period``."""
    return periods.parse(period).contains(records[column]).fillna(False).astype(bool)


