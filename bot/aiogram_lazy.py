"""aiogram's Telegram types built when first used, not all at import: ~100 MiB less.

`aiogram.types` calls `model_rebuild()` on each of its ~300 pydantic models as it is
imported, which builds every validator and serializer: about 125 MiB of RSS in the bot's
process (aiogram issue #1513), most of it for types this bot never sees (payments,
stickers, business accounts...). The models are declared with `defer_build=True`, so if
that call only hands each model the namespace its forward references need, pydantic
builds a model on its first use instead, and only the models the bot really meets take
memory (a few MiB).

`bot/__init__.py` calls `defer_aiogram_types()` before anything imports aiogram. If aiogram
was imported already, or this aiogram or pydantic does not look as expected, nothing is
changed and aiogram builds everything as usual.
"""

from __future__ import annotations

import sys
from typing import Any


def defer_aiogram_types() -> None:
    if "aiogram.types" in sys.modules:
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

    setattr(BaseModel, "model_rebuild", classmethod(remember_namespace))  # noqa: B010
    try:
        import aiogram.types  # noqa: F401, PLC0415
    finally:
        setattr(BaseModel, "model_rebuild", rebuild)  # noqa: B010
