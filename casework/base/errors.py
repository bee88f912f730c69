"""The one exception type users can meet, with a message in Chinese and English.

Examples
--------
>>> from casework.base.errors import CaseworkError
>>> err = CaseworkError("文件不存在：a.csv", "file not found: a.csv",
...                     hint="检查路径 / check the path")
>>> print(err)
文件不存在：a.csv
file not found: a.csv
→ 检查路径 / check the path
"""

from __future__ import annotations


class CaseworkError(Exception):
    """An error a user can meet and fix: bad file, missing column, bad parameter.

    Parameters
    ----------
    zh, en : str
        What is wrong, in Chinese and in English.
    hint : str, optional
        How to fix it (bilingual text).
    exit_code : int
        Exit code the CLI uses for this error (2 for bad input).
    """

    exit_code = 2

    def __init__(self, zh: str, en: str, *, hint: str | None = None, exit_code: int | None = None):
        self.zh, self.en, self.hint = zh, en, hint
        if exit_code is not None:
            self.exit_code = exit_code
        super().__init__(self.__str__())

    def __str__(self) -> str:
        text = f"{self.zh}\n{self.en}"
        if self.hint:
            text += f"\n→ {self.hint}"
        return text


class DataError(CaseworkError):
    """Input data cannot be read or does not fit the data model."""


class ParameterError(CaseworkError):
    """A parameter, option or run definition is invalid."""


class AuditError(CaseworkError):
    """The query audit log is damaged or cannot be written."""

    exit_code = 1


def check_choice(name: str, value, choices) -> None:
    """Raise :class:`ParameterError` unless ``value`` is one of ``choices``.

    Examples
    --------
    >>> check_choice("level", "internal", ["internal", "circulated"])
    >>> check_choice("level", "all", ["internal", "circulated"])
    Traceback (most recent call last):
    ...
    casework.base.errors.ParameterError: 参数 level 的取值 'all' 无效，可选：internal, circulated
    level must be one of internal, circulated; got 'all'
    """
    choices = list(choices)
    if value not in choices:
        opts = ", ".join(map(str, choices))
        raise ParameterError(
            f"参数 {name} 的取值 {value!r} 无效，可选：{opts}",
            f"{name} must be one of {opts}; got {value!r}",
        )
