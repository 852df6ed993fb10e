"""The one list of problems that every check of a circuit file adds to."""

from __future__ import annotations

from ngcspec.errors import Problem
from ngcspec.yamlsrc import Source


class Collector:
    """Problems found in ``src``, each located at a path of the file.

    ``declared`` names every component the file declares, those with errors included, so a
    reference to a component that could not be resolved is not reported a second time."""

    def __init__(self, src: Source, declared: tuple[str, ...] = ()):
        self.src = src
        self.declared = declared
        self.problems: list[Problem] = []

    def fail(self, path, message: str, hint: str = "", key: bool = False, within: str = "") -> None:
        """Report ``message`` at ``path`` (at its key with ``key``; at the text ``within``
        inside the value, such as one name of a wire)."""
        self.problems.append(self.src.problem(tuple(path), message, hint, key=key, within=within))

    def extend(self, problems: list[Problem]) -> None:
        self.problems += problems
