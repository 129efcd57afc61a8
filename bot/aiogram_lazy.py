"""aiogram's Telegram types and methods built when first used, not all at import.

`aiogram.types` calls `model_rebuild()` on each of its ~400 pydantic models as it is
imported, and its ~190 methods (also pydantic models) are built as they are defined:
every validator and serializer, about 125 MiB of RSS in the bot's process (aiogram issue
#1513), most of it for what this bot never sends or receives (payments, stickers,
business accounts...). pydantic can build a model on its first use instead
(`defer_build`), so only the models the bot really meets take memory (a few MiB):

- the types are declared with `defer_build=True`: while `aiogram.types` is imported,
  `model_rebuild(_types_namespace=...)` only hands each type the names its forward
  references need (as its parent namespace, and in its module when another model embeds
  it) instead of building it;
- the methods get `defer_build=True` on their base class, `TelegramMethod`, right after
  `aiogram.methods.base` runs and before the methods are defined.

`bot/__init__.py` calls `defer_aiogram_types()` before anything imports aiogram. If aiogram
was imported already, nothing is changed; if this aiogram or pydantic does not look as
expected, aiogram builds everything as usual.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

METHODS_BASE = "aiogram.methods.base"


class _DeferMethods(importlib.abc.MetaPathFinder):
    """Sets `defer_build` on `TelegramMethod` as soon as aiogram.methods.base has run."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != METHODS_BASE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        loader = spec.loader if spec is not None else None
        if not isinstance(loader, importlib.machinery.SourceFileLoader):
            return spec
        run = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            run(module)
            config = getattr(getattr(module, "TelegramMethod", None), "model_config", None)
            if isinstance(config, dict):
                config["defer_build"] = True

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def defer_aiogram_types() -> None:
    if "aiogram.types" in sys.modules or METHODS_BASE in sys.modules:
        return
    from pydantic import BaseModel  # noqa: PLC0415

    rebuild = BaseModel.__dict__.get("model_rebuild")
    if not isinstance(rebuild, classmethod) or "__pydantic_parent_namespace__" not in dir(
        BaseModel
    ):
        return

    def remember_namespace(cls: type[BaseModel], /, **kwargs: Any) -> bool | None:
        namespace = kwargs.get("_types_namespace")
        if namespace is None or set(kwargs) != {"_types_namespace"}:
            return rebuild.__func__(cls, **kwargs)  # type: ignore[no-any-return]
        # Where pydantic looks when it builds a deferred model on first use: the model's
        # parent namespace, and its module's globals when another model embeds it.
        own = cls.__dict__.get("__pydantic_parent_namespace__") or {}
        cls.__pydantic_parent_namespace__ = {**namespace, **own}
        module = sys.modules.get(cls.__module__)
        if module is not None:
            for name, value in namespace.items():
                vars(module).setdefault(name, value)
        return None

    finder = _DeferMethods()
    sys.meta_path.insert(0, finder)
    setattr(BaseModel, "model_rebuild", classmethod(remember_namespace))  # noqa: B010
    try:
        import aiogram.types  # noqa: F401, PLC0415
    finally:
        setattr(BaseModel, "model_rebuild", rebuild)  # noqa: B010
        sys.meta_path.remove(finder)
