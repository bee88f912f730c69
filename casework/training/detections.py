"""The detections the final exercises of sessions 03–06 rerun (monitoring scans and their
sustained signals), and the verdict of a final exercise (:func:`final_verdict`): an answer is
right when it names something the library flags on the learner's own data.
"""

from __future__ import annotations

import re

import pandas as pd

from casework.analysis import monitor
from casework.training.answers import NONE_WORDS, as_text
from casework.training.data import SCAN_MONTHS, SUSTAINED_MONTHS, TrainingData


def scan(data: TrainingData, indicator: str, by):
    """Monitoring flags of ``indicator`` by ``by`` over the last :data:`SCAN_MONTHS` months
    (cached on the data)."""
    def run():
        ch = monitor.scan(data.records, indicators=indicator, by=list(by), end=data.end,
                          months=SCAN_MONTHS, journeys=data.journeys)
        return monitor.flags(ch)
    return data.cached(("scan", indicator, tuple(by)), run)


def episodes(fl: pd.DataFrame, *, adverse_only: bool, up: bool | None = None) -> pd.DataFrame:
    """The flag episodes to consider: adverse ones only, or upward ones only."""
    if fl.empty:
        return fl
    keep = pd.Series(True, index=fl.index)
    if adverse_only:
        keep &= fl["adverse"].astype(bool)
    if up is True:
        keep &= fl["side"] > 0
    return fl[keep]


def unit_names(data: TrainingData) -> dict:
    """``unit_code -> unit_name`` of the training data."""
    return dict(zip(data.units["unit_code"], data.units["unit_name"]))


def unit_short(name: str) -> str:
    """A unit name without the city and 人民检察院 (江州市江滨区人民检察院 → 江滨区)."""
    return re.sub(r"人民检察院$", "", re.sub(r"^.*?市", "", str(name)))


def mentions_unit(answer: str, code: str, name: str) -> bool:
    """The answer names the unit (by code, full name or short name)."""
    short = unit_short(name)
    return code in answer or name in answer or (short and short in answer) or \
        (short.endswith("区") and short[:-1] in answer and len(short) > 2)


def station_hits(data, frame, answer):
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


def ambiguous_station(data, answer) -> str | None:
    """A station name in ``answer`` that several agencies have, when no agency is named."""
    st = data.records[["referring_agency", "police_station"]].dropna().drop_duplicates()
    for name, grp in st.groupby("police_station"):
        if str(name) in answer and len(grp) > 1:
            agencies = [str(a) for a in grp["referring_agency"]]
            if not any(a in answer or re.sub(r"^.*?公安局", "", a) in answer for a in agencies):
                return str(name)
    return None


def final_verdict(answer, findings: list[dict], weak: list[dict], *, what: str, how: str,
                  context: str = ""):
    """Verdict of a final exercise. ``findings``: dicts with ``match`` (callable on the answer
    text) and ``say`` (the sentence when it matches); ``weak``: the same for short signals."""
    a = as_text(answer)
    if a.lower() in NONE_WORDS:
        if not findings:
            return True, (f"本数据中按本讲的方法没有发现持续的异常{what}——没有信号也是一种需要写明"
                          "的结论。")
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
        return False, (f"本数据中按本讲的方法没有发现持续的异常{what}。如果你的分析也没有发现，"
                       "请填 \"无\"。")
    return False, f"“{a}”没有被识别为持续的异常{what}。{how}"


def rising_charges(data: TrainingData) -> pd.DataFrame:
    """Charges whose accepted persons rise for at least :data:`SUSTAINED_MONTHS` months."""
    fl = episodes(scan(data, "accepted_prosecution_review", ("charge",)), adverse_only=False,
                  up=True)
    return fl[fl["months_flagged"] >= SUSTAINED_MONTHS] if len(fl) else fl


def bail_stations(data: TrainingData) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stations whose post-arrest bail rate rises: (sustained, short-lived) episodes."""
    fl = episodes(scan(data, "post_arrest_bail_rate", ("unit_code", "referring_agency",
                                                       "police_station")),
                   adverse_only=True, up=True)
    if not len(fl):
        return fl, fl
    lasting = fl["months_flagged"] >= SUSTAINED_MONTHS
    return fl[lasting], fl[fl["months_flagged"] < SUSTAINED_MONTHS]


