"""A cell's flag level (reports.flags), in a module of its own: the API's models name it
without importing the statistics behind the flags (numpy, scipy)."""

from __future__ import annotations

from enum import StrEnum


class Level(StrEnum):
    PROBLEM = "problem"
    WATCH = "watch"
    OK = "ok"
    NOT_ENOUGH_DATA = "not enough data"
