"""The SQL a style sent, as people read it: one line, long runs of placeholders and of VALUES
groups shortened with their count, no parameter values. ``python -m bench statements`` prints
it so, and each cell's record keeps it so (``sql_sent``)."""

from __future__ import annotations

import re

_PLACEHOLDER = r"(?:\?|%s|%\(\w+\)s(?:::[\w ]+)?)"
_PLACEHOLDER_RUN = re.compile(rf"{_PLACEHOLDER}(?:, {_PLACEHOLDER}){{5,}}")
_GROUP = r"\((?:[^()]|%\(\w+\)s)*\)"
_GROUP_RUN = re.compile(rf"{_GROUP}(?:, {_GROUP}){{3,}}")
_LONGEST_SQL = 600


def abbreviate_sql(sql: str) -> str:
    """One line; long runs of placeholders and of VALUES groups shortened, with their count."""
    text = " ".join(sql.split())

    def shorten(match: re.Match[str], pattern: str, noun: str) -> str:
        items = re.findall(pattern, match.group(0))
        return f"{items[0]}, ... {len(items) - 2} more {noun} ..., {items[-1]}"

    text = _GROUP_RUN.sub(lambda m: shorten(m, _GROUP, "rows"), text)
    text = _PLACEHOLDER_RUN.sub(lambda m: shorten(m, _PLACEHOLDER, "parameters"), text)
    if len(text) > _LONGEST_SQL:
        text = f"{text[: _LONGEST_SQL - 80]} ... {text[-60:]} [{len(text)} characters]"
    return text
