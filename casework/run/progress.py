"""Progress on the terminal, silence in pipes and CI.

:func:`enabled` says whether to show progress (stderr is a terminal and ``CI`` is unset);
:func:`activity` shows a running clock beside a step whose length is unknown in advance
(import, synthetic data, quality check), so a long step never looks like a hang.

Examples
--------
>>> with activity("导入") as shown:   # doctest output is not a terminal: nothing is drawn
...     pass
>>> shown
False
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading

from tqdm import tqdm


def enabled(stream=None) -> bool:
    """True when ``stream`` (default stderr) is a terminal and ``CI`` is not set."""
    stream = stream if stream is not None else sys.stderr
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    return bool(tty) and not os.environ.get("CI")


@contextlib.contextmanager
def activity(desc: str, *, show: bool | None = None, every: float = 0.5):
    """Show ``desc`` and the elapsed time on stderr while the ``with`` block runs.

    Parameters
    ----------
    desc : str
        What is running (Chinese).
    show : bool, optional
        Force on or off (default :func:`enabled`).
    every : float
        Seconds between refreshes.

    Yields
    ------
    bool
        Whether anything is drawn.
    """
    show = enabled() if show is None else show
    if not show:
        yield False
        return
    bar = tqdm(total=None, desc=desc, bar_format="{desc}：已用时 {elapsed}", file=sys.stderr,
               leave=False)
    stop = threading.Event()

    def tick():
        while not stop.wait(every):
            bar.refresh()

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    try:
        yield True
    finally:
        stop.set()
        thread.join()
        bar.close()


__all__ = ["enabled", "activity"]
