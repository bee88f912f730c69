"""The training data (培训数据): the training store, the session data read back through the
audited door (:func:`load`), the session-01 export files (:func:`exports`) and the small
helpers the import session uses (:func:`peek`, :func:`try_read`).
"""

from __future__ import annotations

import html
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from casework import ingest, store, synth
from casework.base import config
from casework.base.errors import CaseworkError, ParameterError

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


def read_index(h: Path) -> dict:
    """The training store's index of generated data sets (``training_sets.json`` in ``h``):
    seed key → snapshot id, months and the generator's ground truth (for :func:`reveal` and
    the facilitator; the checks never read it)."""
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
        return (f"<培训数据 {what}：{len(self.records):,} 行案卡，{len(self.modifications):,} "
                "条修改记录，"
                f"{len(self.units)} 个单位，{self.start} 至 {self.end}；快照 {self.snapshot}>")


def load(*, seed: int | None = None, null: bool = False,
         account: str | None = None) -> TrainingData:
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
    seed = default_seed() if seed is None else int(seed)
    null = bool(null)
    h = use_store()
    key = f"{seed}-null" if null else str(seed)
    entry = read_index(h).get(key)
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
        index = read_index(h)
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
    entry = read_index(data.home).get(f"{data.seed}-null" if data.null else str(data.seed))
    pats = (entry or {}).get("truth", {}).get("patterns", [])
    cols = ["pattern", "what_zh", "from", "to"]
    return pd.DataFrame([{"pattern": p["id"], "what_zh": p["what_zh"], "from": p["from"],
                          "to": p["to"]} for p in pats], columns=cols)


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
        return (f"<培训导出文件 {self.folder}：{names}，"
                f"以及练习文件 {self.renamed.name}、{self.broken.name}>")


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
    seed = default_seed() if seed is None else int(seed)
    use_store()
    out = (Path(folder) if folder is not None
           else Path(tempfile.mkdtemp(prefix="casework-training-")))
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


def md_literal(text) -> str:
    """Text shown literally in Markdown: HTML-escaped (quotes kept) and Markdown punctuation
    backslash-escaped, so text from data never renders as markup."""
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
                md_literal(line) for line in self.error.splitlines())
        head = f"**读取成功**：{len(self.frame):,} 行，{self.frame.shape[1]} 列"
        if not self.warnings:
            return head + "，没有警告。"
        items = "\n".join(f"{i}. {md_literal(w)}" for i, w in enumerate(self.warnings, 1))
        return head + f"，警告 {len(self.warnings)} 条：\n\n" + items


def try_read(path, *, mapping=None) -> ReadResult:
    """:func:`casework.ingest.read_export` that returns its error message instead of raising, so a
    notebook cell can show what the importer says about a bad file."""
    try:
        df, warnings = ingest.read_export(path, mapping=mapping)
    except CaseworkError as err:
        return ReadResult(None, [], str(err))
    return ReadResult(df, list(warnings), None)


