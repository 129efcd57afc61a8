"""`ask_if` conditions: `purchase_rating <= 3`, `visit_emotion.valence < 0`,
`channel == friends or channel == social`.

Comparisons joined by `and` / `or` (`and` binds tighter), no parentheses: enough for
follow-ups and simple to read in a YAML file an owner edits.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
}
_COMPARISON = re.compile(
    r"^\s*(?P<qid>[a-z][a-z0-9_]*)(?P<attr>\.valence)?\s*(?P<op><=|>=|==|!=|<|>)\s*"
    r"(?P<value>-?\d+|[a-z][a-z0-9_]*)\s*$"
)


class ConditionError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Given:
    """What a condition can see of an earlier answer."""

    number: int | None = None  # rating 1-5 or NPS 0-10
    option: str | None = None  # choice option id or emotion id
    valence: int | None = None  # emotion valence


@dataclass(frozen=True, slots=True)
class Comparison:
    question_id: str
    valence: bool
    op: str
    value: int | str

    def holds(self, answers: Mapping[str, Given]) -> bool:
        given = answers.get(self.question_id)
        if given is None:
            return False
        left: int | str | None
        if self.valence:
            left = given.valence
        elif isinstance(self.value, int):
            left = given.number
        else:
            left = given.option
        if left is None or type(left) is not type(self.value):
            return False
        return bool(_OPS[self.op](left, self.value))


@dataclass(frozen=True, slots=True)
class Condition:
    any_of: tuple[tuple[Comparison, ...], ...]

    @property
    def comparisons(self) -> list[Comparison]:
        return [c for group in self.any_of for c in group]

    def holds(self, answers: Mapping[str, Given]) -> bool:
        return any(all(c.holds(answers) for c in group) for group in self.any_of)


def _comparison(text: str) -> Comparison:
    match = _COMPARISON.match(text)
    if not match:
        raise ConditionError(
            f"cannot read condition {text.strip()!r}: expected e.g. 'question_id <= 3'"
        )
    raw = match["value"]
    value: int | str = int(raw) if raw.lstrip("-").isdigit() else raw
    return Comparison(match["qid"], bool(match["attr"]), match["op"], value)


def parse_condition(text: str) -> Condition:
    groups = tuple(
        tuple(_comparison(part) for part in re.split(r"\s+and\s+", alternative))
        for alternative in re.split(r"\s+or\s+", text.strip())
    )
    return Condition(groups)
