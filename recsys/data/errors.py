"""The one bad-input error of the project (re-exported by :mod:`recsys.data.types`)."""

from __future__ import annotations


class DataError(ValueError):
    """Bad input. ``str(err)`` is ``<file>:<line>: <problem>`` or just ``<problem>``."""

    def __init__(self, problem: str, file: str | None = None, line: int | str | None = None):
        self.problem = " ".join(str(problem).splitlines())  # always one line
        self.file = file
        self.line = line
        super().__init__(self._text())

    def _text(self) -> str:
        if self.file is None:
            return self.problem
        if self.line is None:
            return f"{self.file}: {self.problem}"
        return f"{self.file}:{self.line}: {self.problem}"
