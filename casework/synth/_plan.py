"""Where, when and how strongly each pattern is planted — all drawn from the seed.

:func:`place` decides, before any unit is simulated, the unit (and department, prosecutor,
police station, account) of every planted pattern, its start month and its effect size; the
draws come from their own random stream, so null data (which plant nothing) are otherwise
identical to planted data of the same seed. :func:`record` writes one pattern's entry of
``truth["patterns"]`` with the full display name of its entity, as a report should print it.

Ranges (uniform draws; a start month is drawn so many months before the last month of data,
and never earlier than four months after the start of the data):

- ``post_arrest_bail_jump``: 捕后取保候审 share of one police station rises from about 4 %
  to 25–40 %; start 8–12 months back (arrests of the last two months have mostly not yet
  had their measure changed: a later start would leave too few mature months to see).
- ``slow_prosecutor``: 审查起诉 handling days of one prosecutor × 1.6–2.0 for cases accepted
  from the start; start 6–14 months back.
- ``rising_charge``: one charge grows 5–8 % a month, with new modus-operandi words (in every
  extra case and in 30 % of the charge's ordinary cases from the start); start 9–14 months
  back.
- ``entry_error_run``: 20–30 % of one department's cards (background about 2 %) broken in
  three months of acceptance; start 6–11 months back (the run ends, so it starts within
  the last twelve months: the reports of the last year still see it).
- ``adoption_drop``: 量刑建议采纳率 of one unit falls from about 95 % to 65–75 % for
  judgments from the start; start 6–12 months back.
- ``closed_case_editor``: one account edits key fields of 1.5–3 % of its unit's cards closed
  since the start (40–400 edits); start 6–14 months back.

Entities never collide: with five or more units, the five unit-bound patterns sit in five
different units; with fewer, the slow prosecutor and the error run take different departments.

Examples
--------
>>> import numpy as np
>>> p = place(np.random.default_rng(1), units=6, end_m=np.datetime64("2024-12"), months=36)
>>> len({p[k]["unit"] for k in ("bail", "slow", "errors", "adoption", "editor")})
5
>>> 0.25 <= p["bail"]["rate_after"] <= 0.40
True
"""

from __future__ import annotations

import numpy as np

from casework.synth import _tables as T

#: Pattern ids in the order of ``truth["patterns"]``.
ORDER = ["post_arrest_bail_jump", "slow_prosecutor", "rising_charge", "entry_error_run",
         "adoption_drop", "closed_case_editor"]

#: Months before the end month in which each pattern may start (inclusive range).
START_BACK = {
    "post_arrest_bail_jump": (8, 12),
    "slow_prosecutor": (6, 14),
    "rising_charge": (9, 14),
    "entry_error_run": (6, 11),
    "adoption_drop": (6, 12),
    "closed_case_editor": (6, 14),
    "supervision_gap": (11, 11),  # synth._supervision: the last 12 months
    "correction_adoption_drop": (5, 11),
}

#: Effect sizes: uniform ranges of the drawn values.
EFFECTS = {
    "bail_rate_after": (0.25, 0.40),
    "handling_days_ratio": (1.6, 2.0),
    "monthly_growth": (0.05, 0.08),
    "error_rate": (0.20, 0.30),
    "adoption_after": (0.65, 0.75),
    "edit_share": (0.015, 0.03),
}

#: Background post-arrest change probability and the share of changes that are bail.
BAIL_CHANGE = 0.045
BAIL_SHARE = 0.85
#: Share of a rising charge's ordinary cases that take up its new modus operandi from the start
#: (the extra cases of the rise all use it).
MO_SPREAD = 0.3
#: Months of a planted run of entry errors.
ERROR_RUN_MONTHS = 3
#: Departments large enough for a slow prosecutor with peers, or a visible error run
#: (第三检察部 and the juvenile 第四检察部 have two prosecutors and few cards).
BUSY_DEPTS = (0, 1)

#: Report templates that should name each pattern (the first is the main one).
TEMPLATES = {
    "post_arrest_bail_jump": ["post_arrest_bail"],
    "slow_prosecutor": ["prosecutor_profiles"],
    "rising_charge": ["periodic_overview", "topic_recurring"],
    "entry_error_run": ["data_quality"],
    "adoption_drop": ["periodic_overview", "horizontal_comparison"],
    "closed_case_editor": ["data_quality"],
    "supervision_gap": ["supervision_gaps"],
    "correction_adoption_drop": ["supervision_gaps"],
}

_UNIT_ROLES = ("bail", "slow", "errors", "adoption", "editor")


def place(rng, *, units, end_m, months):
    """Draw the placement of every pattern.

    Parameters
    ----------
    rng : numpy.random.Generator
        The placement stream (its own, so the simulation's draws do not depend on it).
    units : int
        Number of units.
    end_m : numpy.datetime64
        Last month of data (``datetime64[M]``).
    months : int
        Months of data.

    Returns
    -------
    dict
        ``bail, slow, rising, errors, adoption, editor`` → parameters (``unit``, ``start`` as
        ``datetime64[M]``, effect sizes, and uniform picks resolved once the unit is staffed).
    """
    perm = rng.permutation(units)
    unit = {role: int(perm[k % units]) for k, role in enumerate(_UNIT_ROLES)}

    def start(pid):
        lo, hi = START_BACK[pid]
        hi = max(1, min(hi, months - 4))
        lo = min(lo, hi)
        return end_m - np.timedelta64(int(rng.integers(lo, hi + 1)), "M")

    def draw(key):
        lo, hi = EFFECTS[key]
        return round(float(rng.uniform(lo, hi)), 3)

    slow_dept = int(rng.choice(BUSY_DEPTS))
    err_depts = [d for d in BUSY_DEPTS if unit["errors"] != unit["slow"] or d != slow_dept]
    err_dept = int(err_depts[int(rng.integers(0, len(err_depts)))])
    err_start = start("entry_error_run")
    charges = list(T.RISING)
    return {
        "bail": dict(unit=unit["bail"], start=start("post_arrest_bail_jump"),
                     rate_after=draw("bail_rate_after")),
        "slow": dict(unit=unit["slow"], dept=slow_dept, pick=float(rng.random()),
                     start=start("slow_prosecutor"), ratio=draw("handling_days_ratio")),
        "rising": dict(charge=charges[int(rng.integers(0, len(charges)))],
                       start=start("rising_charge"), growth=draw("monthly_growth")),
        "errors": dict(unit=unit["errors"], dept=err_dept, start=err_start,
                       stop=err_start + np.timedelta64(ERROR_RUN_MONTHS - 1, "M"),
                       rate=draw("error_rate")),
        "adoption": dict(unit=unit["adoption"], start=start("adoption_drop"), before=0.95,
                         after=draw("adoption_after")),
        "editor": dict(unit=unit["editor"], staff=int(rng.integers(0, 5)),
                       start=start("closed_case_editor"), share=draw("edit_share")),
    }


def bail_probability(rate_after):
    """Post-arrest change probability that gives a bail share of ``rate_after``.

    Examples
    --------
    >>> round(bail_probability(0.30), 3)
    0.307
    """
    return rate_after - BAIL_CHANGE * BAIL_SHARE + BAIL_CHANGE


def fmt_month(m):
    """``datetime64`` → ``"YYYY-MM"``."""
    return str(np.datetime64(m, "M"))


# ---------------------------------------------------------------------------------------------
# Entities: the identifiers and full display names a report should use
# ---------------------------------------------------------------------------------------------


def station(spec, name):
    """A police station of the unit's district bureau, named with its bureau."""
    return dict(entity_type="station", entity_id=f"{spec.main_agency}/{name}",
                entity_name=f"{spec.main_agency}{name}",
                keys=dict(unit_code=spec.unit_code, referring_agency=spec.main_agency,
                          police_station=name))


def department(spec, dept):
    """A department of one procuratorate (never pooled across procuratorates)."""
    return dict(entity_type="department", entity_id=f"{spec.unit_code}/{dept}",
                entity_name=f"{spec.unit_name}{dept}",
                keys=dict(unit_code=spec.unit_code, department=dept))


def prosecutor(spec, dept, pid, name):
    """A prosecutor, named with procuratorate and department."""
    return dict(entity_type="prosecutor", entity_id=f"{spec.unit_code}/{dept}/{pid}",
                entity_name=f"{spec.unit_name}{dept}检察官{name}",
                keys=dict(unit_code=spec.unit_code, department=dept, prosecutor_id=pid))


def unit(spec):
    """A procuratorate."""
    return dict(entity_type="unit", entity_id=spec.unit_code, entity_name=spec.unit_name,
                keys=dict(unit_code=spec.unit_code))


def charge(name):
    """A charge (all units)."""
    return dict(entity_type="charge", entity_id=f"charge/{name}", entity_name=name,
                keys=dict(charge=name))


def account(spec, acc):
    """A case-card system account of one procuratorate."""
    return dict(entity_type="account", entity_id=f"account/{spec.unit_code}/{acc}",
                entity_name=f"{spec.unit_name}账号{acc}",
                keys=dict(unit_code=spec.unit_code, account=acc))


def record(pid, entity, *, what_zh, where, start, stop, effect):
    """One entry of ``truth["patterns"]``.

    Keys: ``id`` and ``type`` (the pattern type), ``what_zh``, ``entity_type``, ``entity_id``,
    ``entity_name`` (full display name), ``keys`` (canonical columns identifying the entity),
    ``where`` (the keys plus descriptive extras), ``from``/``to`` (``"YYYY-MM"``; ``to`` is
    None while the pattern runs to the end of the data), ``effect`` (the drawn sizes) and
    ``templates`` (reports that should name it; the first is the main one).
    """
    return {
        "id": pid, "type": pid, "what_zh": what_zh,
        "entity_type": entity["entity_type"], "entity_id": entity["entity_id"],
        "entity_name": entity["entity_name"], "keys": dict(entity["keys"]),
        "where": {**entity["keys"], **where},
        "from": fmt_month(start), "to": None if stop is None else fmt_month(stop),
        "effect": effect, "templates": list(TEMPLATES[pid]),
    }
