"""How the course tooling writes text: a message cut to a length, a value as one markdown table cell."""
from __future__ import annotations

from typing import Any


def shorten(text: Any, limit: int, one_line: bool = False) -> str:
    """``text`` as a string of at most ``limit`` characters, cut with ``...``.

    ``one_line`` folds every run of white space (newlines included) into one space, for a one-line verdict;
    otherwise only the ends are stripped, so that a traceback's lines stay lines.
    """
    text = " ".join(str(text).split()) if one_line else str(text).strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


def md_cell(text: Any) -> str:
    """A value as one cell of a markdown table: ``|`` escaped, newlines folded."""
    return str(text).replace("|", "\\|").replace("\n", " ")
