"""Read a survey YAML file into a `Survey`, or report every problem with its location."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml
from pydantic import ValidationError

from surveys.checks import Loc, check_survey
from surveys.model import Survey

TEMPLATES = ("cafe", "online_shop", "lean")


@dataclass(frozen=True, slots=True)
class SurveyProblem:
    loc: Loc
    message: str
    line: int | None = None

    @property
    def path(self) -> str:
        out = ""
        for part in self.loc:
            out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else str(part)
        return out or "(file)"

    def render(self, source: str) -> str:
        where = f"{source}:{self.line}" if self.line else source
        return f"{where}: {self.path}: {self.message}"


class SurveyError(Exception):
    def __init__(self, source: str, problems: list[SurveyProblem]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(p.render(source) for p in problems))


def template_path(name: str) -> Path:
    return Path(str(resources.files("surveys") / "templates" / f"{name}.yaml"))


def resolve(spec: str) -> Path:
    """A path, or the name of a bundled template (`cafe`, `online_shop`, `lean`)."""
    return template_path(spec) if spec in TEMPLATES else Path(spec)


def load_survey(spec: str | Path) -> Survey:
    path = resolve(spec) if isinstance(spec, str) else spec
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise SurveyError(
            str(path), [SurveyProblem((), f"cannot read: {error.strerror}")]
        ) from None
    return parse_survey(text, str(path))


def parse_survey(text: str, source: str = "<survey>") -> Survey:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark else None
        raise SurveyError(source, [SurveyProblem((), f"not valid YAML: {error}", line)]) from None
    if not isinstance(data, dict):
        raise SurveyError(source, [SurveyProblem((), "expected a mapping of survey keys")])
    try:
        survey = Survey.model_validate(data)
    except ValidationError as error:
        problems = [_from_pydantic(e, node) for e in error.errors()]
        raise SurveyError(source, problems) from None
    located = [SurveyProblem(loc, msg, _line(node, loc)) for loc, msg in check_survey(survey)]
    if located:
        raise SurveyError(source, located)
    return survey


def _from_pydantic(error: object, node: yaml.Node | None) -> SurveyProblem:
    assert isinstance(error, dict)
    loc = tuple(error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key"
    return SurveyProblem(loc, message, _line(node, loc))


def _line(node: yaml.Node | None, loc: Loc) -> int | None:
    """The 1-based line of the deepest YAML node that `loc` reaches."""
    found = node
    for part in loc:
        child = _child(found, part) if found is not None else None
        if child is None:
            break
        found = child
    return found.start_mark.line + 1 if found is not None else None


def _child(node: yaml.Node, part: str | int) -> yaml.Node | None:
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int):
        return node.value[part] if part < len(node.value) else None
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == str(part):
                return value  # type: ignore[no-any-return]
    return None
