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
reruns the detection (:func:`casework.analysis.monitor.scan`,
:func:`casework.analysis.casemix.horizontal`, :func:`casework.analysis.days.handling_days`,
:func:`casework.analysis.quality.error_rates`,
:func:`casework.analysis.modifications.account_flags`,
:func:`casework.analysis.topics.recurring.emerging_terms`) and accepts whatever the library
flags — never the generator's ``truth.json``. On data with nothing planted (``null=True``)
the right answer to those exercises is "无".

Every number a learner reads is computed: feedback messages quote values only from the data.

The package: :mod:`~casework.training.data` (the training store, :func:`load`,
:func:`exports`), :mod:`~casework.training.answers` (the exercise registry, :func:`check`,
answer judging), :mod:`~casework.training.detections` (the detections the final exercises
rerun), :mod:`~casework.training.checks_01_03` and :mod:`~casework.training.checks_04_06` (the
checks of each session, registered on import).

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

from casework.training import checks_01_03, checks_04_06  # noqa: F401  (registers the checks)
from casework.training.answers import SESSIONS, Feedback, check, exercises, judge_number
from casework.training.data import (
    DEFAULT_SEED,
    END,
    EXPORT_PERSONS,
    HOME_ENV,
    SCAN_MONTHS,
    SEED_ENV,
    SUSTAINED_MONTHS,
    TERMS,
    UNITS,
    YEARS,
    Exports,
    ReadResult,
    TrainingData,
    default_seed,
    exports,
    home,
    load,
    peek,
    reveal,
    try_read,
    use_store,
)

__all__ = [
    "TrainingData", "Exports", "Feedback", "ReadResult", "load", "exports", "check", "exercises",
    "home", "use_store", "default_seed", "peek", "try_read", "reveal", "judge_number",
    "SESSIONS", "UNITS", "YEARS", "END", "DEFAULT_SEED", "SEED_ENV", "HOME_ENV",
    "EXPORT_PERSONS", "SUSTAINED_MONTHS", "SCAN_MONTHS", "TERMS",
]
