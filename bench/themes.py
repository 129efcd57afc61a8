"""How well comments are read: the theme matcher's precision and recall and the intent
classifier's accuracy on the labelled comments of tests/data/comments.tsv, against the cafe
template's themes. Prints the figures per theme and every miss.

    .venv/bin/python -m bench.themes [--misses]
"""

from __future__ import annotations

import argparse
import csv
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from surveys.loader import load_survey
from surveys.model import Intent
from surveys.themes import find_themes, matchers, read

LABELLED = Path(__file__).parent.parent / "tests" / "data" / "comments.tsv"


@dataclass(frozen=True, slots=True)
class Labelled:
    asked: Intent | None
    low: bool
    intent: Intent | None
    themes: frozenset[str]
    text: str


def labelled(path: Path = LABELLED) -> list[Labelled]:
    lines = [line for line in path.read_text("utf-8").splitlines() if not line.startswith("#")]
    rows = csv.DictReader(lines, delimiter="\t", quoting=csv.QUOTE_NONE)
    return [
        Labelled(
            None if row["asked"] == "open" else Intent(row["asked"]),
            row["low"] == "1",
            None if row["intent"] == "none" else Intent(row["intent"]),
            frozenset() if row["themes"] == "-" else frozenset(row["themes"].split(",")),
            row["text"],
        )
        for row in rows
    ]


@dataclass
class Score:
    comments: int = 0
    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0
    intents_right: int = 0
    seconds: float = 0.0
    misses: list[str] = field(default_factory=list)
    per_theme: Counter[tuple[str, str]] = field(default_factory=Counter)

    @property
    def precision(self) -> float:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else 1.0

    @property
    def recall(self) -> float:
        wanted = self.true_positives + self.false_negatives
        return self.true_positives / wanted if wanted else 1.0

    @property
    def intent_accuracy(self) -> float:
        return self.intents_right / self.comments if self.comments else 1.0


def score(rows: list[Labelled]) -> Score:
    compiled = matchers(load_survey("cafe").themes)
    result = Score()
    started = time.perf_counter()
    for row in rows:
        found = find_themes(row.text, compiled)
        intent = read(row.text, row.asked, row.low, found).intent
        got = frozenset(found.of(intent))
        result.comments += 1
        result.true_positives += len(got & row.themes)
        result.false_positives += len(got - row.themes)
        result.false_negatives += len(row.themes - got)
        result.intents_right += intent == row.intent
        for theme in got - row.themes:
            result.per_theme[theme, "fp"] += 1
        for theme in row.themes - got:
            result.per_theme[theme, "fn"] += 1
        if got != row.themes or intent != row.intent:
            result.misses.append(
                f"{row.text!r}: themes {sorted(got)} (want {sorted(row.themes)}), "
                f"intent {intent} (want {row.intent})"
            )
    result.seconds = time.perf_counter() - started
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--misses", action="store_true", help="print every miss")
    args = parser.parse_args()
    rows = labelled()
    score(rows)  # the first pass loads pymorphy3's dictionaries and fills the word caches
    result = score(rows)
    print(
        f"{result.comments} comments: themes precision {result.precision:.1%}, "
        f"recall {result.recall:.1%}; intent {result.intent_accuracy:.1%} correct; "
        f"{1000 * result.seconds / result.comments:.2f} ms a comment (warm caches)"
    )
    for (theme, kind), n in sorted(result.per_theme.items()):
        print(f"  {theme}: {n} {'false positives' if kind == 'fp' else 'missed'}")
    if args.misses:
        print("\n".join(result.misses))


if __name__ == "__main__":
    main()
