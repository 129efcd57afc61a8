"""Read a survey YAML file into a `Survey`, or report every problem with its location.

Structural problems (pydantic) and cross-reference problems (`surveys.checks`) are
reported together: when the structure is invalid, the invalid values are set aside
(unknown keys dropped, invalid values replaced by defaults or placeholders) and the
cross-reference checks still run on the rest, skipping whatever depends on a value that
was set aside, so one run of `cjm survey check` shows every problem of the file.
"""

from __future__ import annotations

import copy
import difflib
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum
from importlib import resources
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from surveys import wording
from surveys.checks import Loc, check_survey
from surveys.model import IDENT, Survey

TEMPLATES = ("cafe", "online_shop", "lean")
# Limits that stop a file which is no survey before it costs minutes and memory: the
# bundled templates are about 14 KB, 8 levels deep and 950 values.
MAX_BYTES = 256 * 1024
MAX_DEPTH = 24  # nested mappings and lists
MAX_VALUES = 50_000  # scalars, mappings and lists, each alias counted as what it repeats
# Without these the rest of the file cannot be cross-checked in a useful way.
_ESSENTIAL = frozenset({("stages",), ("waves",)})


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
        return f"{where}: {self.path}: {self.message}" if self.loc else f"{where}: {self.message}"


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


def load_survey(spec: str | Path, setting: str | None = None) -> Survey:
    """`setting`: the name of the setting `spec` came from, for the error message."""
    path = resolve(spec) if isinstance(spec, str) else spec
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_BYTES + 1)  # a FIFO or a device has no size to ask first
    except OSError as error:
        source = f"{setting}: {path}" if setting else str(path)
        raise SurveyError(source, [SurveyProblem((), _unreadable(str(spec), error))]) from None
    return parse_survey(_decoded(raw, str(path)), str(path))


def _decoded(raw: bytes, source: str) -> str:
    if len(raw) > MAX_BYTES:
        message = f"too large: a survey file is at most {MAX_BYTES // 1024:,} KB"
        raise SurveyError(source, [SurveyProblem((), message)])
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        message = (
            f"not a UTF-8 text file (byte 0x{raw[error.start]:02x} at position {error.start:,}); "
            "save it as UTF-8 YAML"
        )
        raise SurveyError(source, [SurveyProblem((), message)]) from None


def _unreadable(spec: str, error: OSError) -> str:
    bundled = ", ".join(TEMPLATES)
    if not isinstance(error, FileNotFoundError):
        return f"cannot read: {error.strerror}"
    if Path(spec).suffix in (".yaml", ".yml") or "/" in spec or "\\" in spec:
        return f"no such file (give a survey YAML file, or a bundled template: {bundled})"
    close = difflib.get_close_matches(spec, TEMPLATES, n=1)
    hint = f"; did you mean {close[0]}?" if close else ""
    return f"no such file, and not a bundled template ({bundled}){hint}"


def parse_survey(text: str, source: str = "<survey>") -> Survey:
    if len(text) > MAX_BYTES:  # characters: at least as many bytes
        message = f"too large: a survey file is at most {MAX_BYTES // 1024:,} KB"
        raise SurveyError(source, [SurveyProblem((), message)])
    try:
        _within_limits(text, source)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark else None
        if isinstance(error, yaml.reader.ReaderError):
            line = text.count("\n", 0, error.position) + 1
        raise SurveyError(source, [SurveyProblem((), _yaml_message(error), line)]) from None
    if not isinstance(data, dict):
        raise SurveyError(source, [SurveyProblem((), "expected a mapping of survey keys")])
    duplicates = list(_duplicate_keys(node, ()))
    try:
        survey = Survey.model_validate(data)
    except ValidationError as error:
        raise SurveyError(source, _by_line(_structural(data, node, error) + duplicates)) from None
    located = [SurveyProblem(loc, msg, _line(node, loc)) for loc, msg in check_survey(survey)]
    if located or duplicates:
        raise SurveyError(source, _by_line(located + duplicates))
    return survey


def _within_limits(text: str, source: str) -> None:
    """Nesting depth and values (aliases expanded) counted on YAML's event stream, which
    keeps nothing and recurses nowhere: a file 10,000 levels deep or a "billion laughs"
    of aliases stops here with one line instead of a RecursionError or minutes of work."""
    sizes: dict[str, int] = {}  # anchor → values in its node
    open_nodes: list[tuple[int, str | None]] = []  # (its first value's number, anchor)
    values = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            values += sizes.get(event.anchor or "", 1)
        elif isinstance(event, yaml.ScalarEvent):
            values += 1
            if event.anchor:
                sizes[event.anchor] = 1
        elif isinstance(event, yaml.CollectionStartEvent):
            open_nodes.append((values, event.anchor))
            values += 1
            if len(open_nodes) > MAX_DEPTH:
                line = event.start_mark.line + 1 if event.start_mark else None
                message = f"nested too deep: at most {MAX_DEPTH} levels of mappings and lists"
                raise SurveyError(source, [SurveyProblem((), message, line)])
        elif isinstance(event, yaml.CollectionEndEvent):
            first, anchor = open_nodes.pop()
            if anchor:
                sizes[anchor] = values - first
        if values > MAX_VALUES:
            message = f"too large: more than {MAX_VALUES:,} values (aliases counted as expanded)"
            raise SurveyError(source, [SurveyProblem((), message)])


def _duplicate_keys(
    node: yaml.Node | None, loc: Loc, visited: set[int] | None = None
) -> Iterator[SurveyProblem]:
    """YAML keeps the last of two equal keys without a word; an owner editing the file
    almost always meant something else (a pasted question, a forgotten rename)."""
    visited = set() if visited is None else visited
    if node is None or id(node) in visited:  # an alias: its node was looked at already
        return
    visited.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else None
            if name is None or name == "<<":
                continue
            if name in seen:
                message = "duplicate key: only the last one counts"
                yield SurveyProblem((*loc, name), message, key.start_mark.line + 1)
            seen.add(name)
            yield from _duplicate_keys(value, (*loc, name), visited)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _duplicate_keys(item, (*loc, index), visited)


def _yaml_message(error: yaml.YAMLError) -> str:
    """One line: what is wrong, and where the construct it breaks started."""
    if isinstance(error, yaml.reader.ReaderError) and isinstance(error.character, int):
        return f"not valid YAML: a control character (#x{error.character:04x}) is not allowed"
    if not isinstance(error, yaml.MarkedYAMLError) or not error.problem:
        return f"not valid YAML: {' '.join(str(error).split())}"
    message = f"not valid YAML: {error.problem}"
    if error.context and error.context_mark is not None:
        message += f" ({error.context} that starts on line {error.context_mark.line + 1})"
    return message


def _structural(
    data: dict[str, Any], node: yaml.Node | None, error: ValidationError
) -> list[SurveyProblem]:
    """pydantic's problems, then the cross-reference problems of everything else."""
    errors = error.errors()
    problems = [_from_pydantic(e, node) for e in errors]
    repair = _Repair(copy.deepcopy(data), node)
    if not all(repair.apply(e) for e in errors):
        return _by_line(problems)
    try:
        survey = Survey.model_validate(repair.data)
    except ValidationError:
        return _by_line(problems)
    reported = [p.loc for p in problems]
    for loc, message in check_survey(survey, repair.unsure):
        if not any(loc[: len(r)] == r for r in reported):
            problems.append(SurveyProblem(loc, message, _line(node, loc)))
    return _by_line(problems)


def _by_line(problems: list[SurveyProblem]) -> list[SurveyProblem]:
    return sorted(problems, key=lambda p: p.line or 0)


def _from_pydantic(error: object, node: yaml.Node | None) -> SurveyProblem:
    assert isinstance(error, dict)
    loc = tuple(error["loc"])
    message = wording.message(error)
    site = _site(loc)
    if error["type"] == "extra_forbidden":
        message = "unknown key"
        if site is not None:
            close = difflib.get_close_matches(str(loc[-1]), list(site.model.model_fields), 1)
            if close:
                message += f" (did you mean {close[0]!r}?)"
    elif error["type"] == "dict_type" and site is not None and _is_text(_annotation(site)):
        message = 'expected a text per language, e.g. {ru: "…", en: "…"}'
    elif isinstance(error.get("input"), bool):
        raw = _raw(node, loc)
        word = raw if raw is not None else ("yes" if error["input"] else "no")
        message = (
            f"YAML reads {word} as {str(error['input']).lower()}; "
            f"quote it: '{word}' ({message.lower()})"
        )
    return SurveyProblem(loc, message, _line(node, loc))


# -- setting invalid values aside ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Site:
    """Where an error is: a field of a model object, perhaps inside the field's value."""

    model: type[BaseModel]
    owner: Loc  # the object: () for the survey, ("waves", 0, "questions", 2), ...
    field: str | int  # a field name; an int when the list item itself is invalid
    inner: Loc  # the path inside the field's value, e.g. ("en",) in a text


def _site(loc: Loc) -> _Site | None:
    model: type[BaseModel] = Survey
    i = 0
    while i < len(loc):
        name = loc[i]
        info = model.model_fields.get(name) if isinstance(name, str) else None
        if info is None:  # an unknown key
            return _Site(model, loc[:i], name, ()) if i == len(loc) - 1 else None
        annotation = info.annotation
        nested = _model_of(annotation)
        if nested is not None and i + 1 < len(loc):
            model, i = nested, i + 1
            continue
        item = _model_of(get_args(annotation)[0]) if get_origin(annotation) is list else None
        if item is not None and i + 1 < len(loc) and isinstance(loc[i + 1], int):
            if i + 2 == len(loc):
                return _Site(item, loc[: i + 1], loc[i + 1], ())
            model, i = item, i + 2
            continue
        return _Site(model, loc[:i], name, loc[i + 1 :])
    return None


def _annotation(site: _Site) -> Any:
    info = site.model.model_fields.get(site.field) if isinstance(site.field, str) else None
    return info.annotation if info is not None else None


def _is_text(annotation: Any) -> bool:
    """A localized text: `{ru: "…", en: "…"}`, perhaps optional."""
    options = get_args(annotation) if get_origin(annotation) in (Union, UnionType) else ()
    for option in options or (annotation,):
        inner = get_args(option)[0] if get_origin(option) is Annotated else option
        if get_origin(inner) is dict:
            return True
    return False


def _replace(container: dict[str, Any], field: str, inner: Loc, entry: Any, whole: Any) -> None:
    """Replace an invalid value: one entry of a text (`inner` names it), or all of it."""
    if not inner:
        container[field] = whole
        return
    value = container.get(field)
    if not isinstance(value, dict) or inner[0] not in value:
        raise _CannotRepair
    value[inner[0]] = entry


def _is_ident(text: str | None) -> bool:
    return text is not None and re.match(IDENT, text) is not None


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


class _CannotRepair(Exception):
    pass


class _Repair:
    def __init__(self, data: dict[str, Any], node: yaml.Node | None) -> None:
        self.data = data
        self.node = node
        self.unsure: set[Loc] = set()
        self._numbers = itertools.count(1)

    def apply(self, error: Any) -> bool:
        loc = tuple(error["loc"])
        site = _site(loc)
        if site is None or loc in _ESSENTIAL:
            return False
        try:
            self._apply(site, loc, error)
        except _CannotRepair:
            return False
        return True

    def _apply(self, site: _Site, loc: Loc, error: Any) -> None:
        container = self._at(site.owner)
        field = site.field
        if isinstance(field, int):  # a list item that is not an object at all
            if not isinstance(container, list) or field >= len(container):
                raise _CannotRepair
            container[field] = self._placeholder(site.model)
            self.unsure.add((*site.owner, field))
            return
        if not isinstance(container, dict):
            raise _CannotRepair
        info = site.model.model_fields.get(field)
        if error["type"] == "extra_forbidden":
            container.pop(field, None)
        elif info is None:
            raise _CannotRepair
        elif isinstance(error.get("input"), bool) and _is_ident(raw := _raw(self.node, loc)):
            _replace(container, field, site.inner, raw, raw)  # what was meant: 'yes'
        elif _is_text(info.annotation):
            _replace(container, field, site.inner, "?", {"en": "?"})
            if site.owner == () and field == "title" and not site.inner:
                self.unsure.add(("title",))
        else:
            self.unsure.update({site.owner, (*site.owner, field)})
            if info.is_required():
                container[field] = self._placeholder(info.annotation)
            else:
                container.pop(field, None)

    def _at(self, loc: Loc) -> Any:
        value: Any = self.data
        for part in loc:
            try:
                value = value[part]
            except (KeyError, IndexError, TypeError):
                raise _CannotRepair from None
        return value

    def _placeholder(self, annotation: Any) -> Any:
        model = _model_of(annotation)
        if model is not None:
            return {
                name: self._placeholder(info.annotation)
                for name, info in model.model_fields.items()
                if info.is_required()
            }
        if annotation is str:
            return f"invalid_{next(self._numbers)}"
        if isinstance(annotation, type) and issubclass(annotation, Enum):
            return next(iter(annotation)).value
        if annotation in (int, timedelta):
            return 0
        if get_origin(annotation) is dict:
            return {"en": "?"}
        if get_origin(annotation) is list:
            item = _model_of(get_args(annotation)[0])
            return [self._placeholder(item)] if item is not None else []
        raise _CannotRepair


# -- YAML positions --------------------------------------------------------------------


def _line(node: yaml.Node | None, loc: Loc) -> int | None:
    """The 1-based line of the deepest YAML node that `loc` reaches."""
    found = node
    for part in loc:
        child = _child(found, part) if found is not None else None
        if child is None:
            break
        found = child
    return found.start_mark.line + 1 if found is not None else None


def _raw(node: yaml.Node | None, loc: Loc) -> str | None:
    """The text of the scalar at `loc` as written in the file."""
    found = node
    for part in loc:
        found = _child(found, part) if found is not None else None
    return found.value if isinstance(found, yaml.ScalarNode) else None


def _child(node: yaml.Node, part: str | int) -> yaml.Node | None:
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int):
        return node.value[part] if part < len(node.value) else None
    if isinstance(node, yaml.MappingNode):
        # The last of equal keys, as it is the one YAML keeps.
        for key, value in reversed(node.value):
            if key.value == str(part):
                return value  # type: ignore[no-any-return]
    return None
