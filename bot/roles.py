"""Who is talking to the bot, from CJM_OWNER_IDS / CJM_STAFF_IDS."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from aiogram.filters import Filter
from aiogram.types import TelegramObject


class Role(StrEnum):
    OWNER = "owner"
    STAFF = "staff"
    CUSTOMER = "customer"


class HasRole(Filter):
    """Set on a router so that the whole router serves only these roles."""

    def __init__(self, *roles: Role) -> None:
        self.roles = roles

    async def __call__(self, event: TelegramObject, **data: Any) -> bool:
        return data.get("role") in self.roles
