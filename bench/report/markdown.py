"""Text from a run's JSON in Markdown: shown exactly as itself, whatever it holds."""

from __future__ import annotations

import re
from collections.abc import Sequence

#: control characters, line breaks among them: a line break would end a table row or let the
#: text start a block of its own
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
#: what starts inline markup: a code span, emphasis, a link, raw HTML, an entity, a table cell,
#: a strikethrough, an escape (an underscore only at a word's edge: inside one it is text)
_INLINE_MARKUP = re.compile(r"[\\`*\[\]<&|~]|(?<![^\W_])_|_(?![^\W_])")
#: what starts a block when it begins a line: a heading, a quote, a list item, a setext line
_BLOCK_MARKUP = ("#", ">", "+", "-", "=")
_ORDERED_ITEM = re.compile(r"(\d{1,9})([.)])(?=\s|$)")
_BACKTICKS = re.compile(r"`+")


def markdown_text(value: object) -> str:
    """``value`` as Markdown text that shows exactly itself, on one line (control characters
    become spaces): safe in a paragraph, a table cell, a list item or a quote."""
    text = _INLINE_MARKUP.sub(lambda m: "\\" + m.group(), _CONTROL.sub(" ", str(value)).strip())
    if text.startswith(_BLOCK_MARKUP):
        return "\\" + text
    item = _ORDERED_ITEM.match(text)
    return f"{item[1]}\\{text[item.end(1) :]}" if item else text


def markdown_code(value: object) -> str:
    """``value`` as inline code on one line, fenced by one backtick more than its longest run
    of them (CommonMark), so none of its own ends the span. Not for a table cell: there a
    ``|`` ends the cell even inside code."""
    text = _CONTROL.sub(" ", str(value)) or " "
    fence = "`" * (_longest_backticks(text) + 1)
    # a backtick at an edge would join the fence; CommonMark strips one space off each end
    # where both ends have one, so a padded text reads as it was
    if text.strip(" ") and (text[0] in "` " or text[-1] in "` "):
        text = f" {text} "
    return f"{fence}{text}{fence}"


def markdown_code_block(value: object) -> list[str]:
    """``value`` as a fenced code block, its lines: the fence is longer than the longest run
    of backticks in it (CommonMark), so no line of its own closes the block."""
    text = str(value).replace("\r\n", "\n").replace("\r", "\n")
    fence = "`" * max(3, _longest_backticks(text) + 1)
    return [fence, *text.split("\n"), fence]


def _longest_backticks(text: str) -> int:
    return max((len(run) for run in _BACKTICKS.findall(text)), default=0)


def markdown_table(header: str, rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table: the header line given, a separator, one line per row."""
    columns = header.count("|") - 1
    separator = "|" + "|".join(" --- " for _ in range(columns)) + "|"
    return "\n".join([header, separator, *("| " + " | ".join(row) + " |" for row in rows)])
