"""Every error the API answers is JSON of one shape: {"errors": [{"field", "message"}]}."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence

from aiohttp import web
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from api.models import ErrorItem, ErrorOut
from surveys import wording

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        errors: Sequence[ErrorItem],
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(errors[0].message if errors else str(status))
        self.status = status
        self.errors = list(errors)
        self.headers = dict(headers or {})

    @classmethod
    def one(
        cls,
        status: int,
        message: str,
        field: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> ApiError:
        return cls(status, [ErrorItem(field=field, message=message)], headers)

    @classmethod
    def invalid(cls, error: ValidationError) -> ApiError:
        """422 naming each failing field; the rejected values are not echoed back."""
        return cls(
            422,
            [ErrorItem(field=field_path(e), message=wording.message(e)) for e in error.errors()],
        )

    def response(self) -> web.Response:
        body = ErrorOut(errors=self.errors).model_dump_json()
        return web.json_response(text=body, status=self.status, headers=self.headers)


def field_path(error: ErrorDetails) -> str | None:
    """('orders', 3, 'external_id') → 'orders[3].external_id'."""
    path = ""
    for part in error["loc"]:
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else str(part)
    return path or None


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as error:
        return error.response()
    except web.HTTPRequestEntityTooLarge:
        return too_large(request).response()
    except web.HTTPException as error:
        if error.status < 400:
            raise
        return ApiError.one(error.status, error.reason, headers=_kept(error)).response()
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return ApiError.one(500, "internal error; the server log has the details").response()


def too_large(request: web.Request) -> ApiError:
    return ApiError.one(413, f"the body is larger than {request.client_max_size} bytes")


def _kept(error: web.HTTPException) -> dict[str, str]:
    """The headers an error must keep (Allow on 405)."""
    return {name: error.headers[name] for name in ("Allow",) if name in error.headers}
