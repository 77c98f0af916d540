"""The command-line machinery the CLI twins share: a line's words and the columns they start at,
a cursor over them that matches keywords by unique prefix, the refusals a line can meet and the
caret text a platform prints for them. Each twin brings its own grammar, modes and wording.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import ClassVar, NamedTuple, TypeVar

CTRL_Z = "\x1a"
CTRL_C = "\x03"
CONTROLS = (CTRL_Z, CTRL_C)

Action = Callable[[], str]  # a parsed line's effect, run only once the whole line has parsed


class Token(NamedTuple):
    text: str
    pos: int  # column where the word starts in the line as typed


def words(line: str) -> list[Token]:
    """The line's words (runs of non-space, as `\\S+` matches them) and where they start."""
    tokens = []
    at = 0
    for text in line.split():
        at = line.find(text, at)
        tokens.append(Token(text, at))
        at += len(text)
    return tokens


def complete(word: str, choices: Collection[str]) -> list[str]:
    """The keywords `word` may name: itself when it is one, else those it abbreviates."""
    if word in choices:
        return [word]
    return [choice for choice in choices if choice.startswith(word)]


# --------------------------------------------------------------------------- refusals


class CliError(Exception):
    """A refused line. `pos` is the column the caret points at; when a line is tried in two
    grammars (a sub-view's, then its parent's) the refusal that got further wins."""

    def __init__(self, pos: int = 0, message: str = "") -> None:
        super().__init__(message)
        self.pos = pos
        self.message = message  # empty: the platform's wording for the kind of refusal


class Unknown(CliError):
    """A word the command does not know at that place."""


class WrongParameter(CliError):
    """A value of the wrong form, or out of range."""


class Incomplete(CliError):
    """The line ends before the command does."""


class TooMany(CliError):
    """Words after a complete command."""


class Ambiguous(CliError):
    """An abbreviation of more than one keyword."""


class Refused(CliError):
    """Well-formed, but refused with the platform's own sentence and no caret."""


class Close(Exception):
    """The session ends (leaving the outermost mode)."""


@dataclass(frozen=True)
class Dialect:
    """How a platform prints a refusal: a caret under the column it points at (the prompt
    counts), then the platform's message for that kind of refusal."""

    messages: Mapping[type[CliError], str]
    indent: str = ""  # before the message
    trailer: str = ""  # after the message's line

    def text(self, error: CliError, prompt: str) -> str:
        if isinstance(error, Refused):
            return f"{error.message}\n"
        message = error.message or self.messages[type(error)]
        return f"{' ' * (len(prompt) + error.pos)}^\n{self.indent}{message}\n{self.trailer}"


# --------------------------------------------------------------------------- the cursor


class Cursor:
    """Walks the words of one line; a word the grammar does not expect raises the refusal.

    A platform tunes where two refusals point: IOS puts an ambiguous abbreviation's past the
    word and counts trailing spaces as part of the line; VRP and Comware do neither.
    """

    ambiguous_past_word: ClassVar[bool] = False
    trailing_spaces_count: ClassVar[bool] = False

    __slots__ = ("line", "tokens", "i")

    def __init__(self, line: str) -> None:
        self.line = line
        self.tokens = words(line)
        self.i = 0

    def peek(self) -> Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def peek_word(self) -> str:
        """The next word in lower case; empty at the end of the line."""
        return self.tokens[self.i].text.lower() if self.i < len(self.tokens) else ""

    def at_end(self) -> bool:
        return self.i >= len(self.tokens)

    def end_depth(self) -> int:
        """The column just past the line: where an incomplete line's refusal points."""
        line = self.line if self.trailing_spaces_count else self.line.rstrip()
        return len(line) + 1

    def next(self) -> Token:
        if self.i >= len(self.tokens):
            raise Incomplete(self.end_depth())
        self.i += 1
        return self.tokens[self.i - 1]

    def keyword(self, choices: Collection[str]) -> str:
        """The next word as one of `choices`, exactly or as a unique abbreviation, in any case."""
        token = self.next()
        hits = complete(token.text.lower(), choices)
        if len(hits) == 1:
            return hits[0]
        if hits:
            raise Ambiguous(token.pos + len(token.text) if self.ambiguous_past_word else token.pos)
        raise Unknown(token.pos)

    def optional_keyword(self, choices: Collection[str]) -> str | None:
        return None if self.at_end() else self.keyword(choices)

    def negated(self, word: str) -> bool:
        """Whether the line starts here with the negating word (`no`, `undo`), taking it."""
        if self.peek_word() == word:
            self.i += 1
            return True
        return False

    def number(self, allowed: range) -> int:
        token = self.next()
        if not token.text.isdigit() or int(token.text) not in allowed:
            raise WrongParameter(token.pos)
        return int(token.text)

    def rest(self) -> str:
        """The raw remainder of the line from the next word (free text, a regex)."""
        token = self.next()
        self.i = len(self.tokens)
        return self.line[token.pos :].rstrip()

    def pattern(self) -> re.Pattern[str]:
        """The rest of the line as the regex of an output filter (`| include …`)."""
        token = self.peek()
        text = self.rest()
        try:
            return re.compile(text)
        except re.error:
            raise WrongParameter(token.pos if token else 0) from None

    def done(self) -> None:
        token = self.peek()
        if token is not None:
            raise TooMany(token.pos)

    def done_before(self, end: int) -> None:
        """Nothing may come before token `end` (a `|` that starts the output filters)."""
        if self.i < end:
            raise TooMany(self.tokens[self.i].pos)

    def pipe(self) -> int | None:
        """The index of the `|` token that starts a command's output filters, if any."""
        return next((i for i, token in enumerate(self.tokens) if token.text == "|"), None)


C = TypeVar("C", bound=Cursor)


def in_view_or_parent(
    cur: C, own: Callable[[C], Action], parent: Callable[[C], Action]
) -> tuple[Action, bool]:
    """Parse a line with a sub-view's grammar or, failing that, with its parent view's, as IOS
    and VRP take a global command typed in a sub-mode: (the action, whether the parent took it).
    When neither does, the refusal that got further wins (the sub-view's on a tie)."""
    try:
        return own(cur), False
    except CliError as own_error:
        try:
            return parent(type(cur)(cur.line)), True
        except CliError as parent_error:
            raise max(own_error, parent_error, key=lambda e: e.pos) from None


# --------------------------------------------------------------------------- actions and output


def set_to(target: object, attribute: str, value: object) -> str:
    setattr(target, attribute, value)
    return ""


def then(function: Callable[..., object], *args: object) -> str:
    """Call `function` for its effect; a silent answer."""
    function(*args)
    return ""


def append_unique(items: list, item: object) -> None:
    if item not in items:
        items.append(item)


def remove(items: list, item: object) -> None:
    if item in items:
        items.remove(item)


def filter_output(output: str, kind: str, pattern: re.Pattern[str]) -> str:
    """A show command's output through `| include`, `exclude`, `begin` or `section` (a
    top-level line with its indented children, kept whole when any of them matches)."""
    lines = output.splitlines()
    if kind == "include":
        kept = [line for line in lines if pattern.search(line)]
    elif kind == "exclude":
        kept = [line for line in lines if not pattern.search(line)]
    elif kind == "begin":
        start = next((i for i, line in enumerate(lines) if pattern.search(line)), len(lines))
        kept = lines[start:]
    elif kind == "section":
        kept = []
        sections: list[list[str]] = []
        for line in lines:
            if line.startswith(" ") and sections:
                sections[-1].append(line)
            else:
                sections.append([line])
        for section in sections:
            if any(pattern.search(line) for line in section):
                kept += section
    else:
        raise ValueError(f"no output filter {kind!r}")
    return "".join(line + "\n" for line in kept)
