"""POST /api/v1/orders and /api/v1/orders/batch: the same registration as `/order` and
`cjm order add` (surveys.journeys), idempotent on the order's external id.

A batch is all or nothing: every order is validated first, then all are registered in one
transaction, so a 422 means nothing was stored: fix it and send the whole batch again."""

from __future__ import annotations

import logging
from typing import TypeVar

from aiohttp import web
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError

from api.deps import ApiDeps, authorize, json_body, json_response
from api.errors import ApiError
from api.models import BatchIn, BatchOut, ErrorItem, OrderIn, OrderOut
from surveys.journeys import NewOrder, OrderReceipt, OrderRejected, validate_order

log = logging.getLogger(__name__)

# Two requests racing to register one external id (or one new customer): the loser's
# transaction fails on the unique key and is retried, and then finds the winner's order.
# SQLite's "database is locked" between writers is retried the same way.
DB_ATTEMPTS = 3
Parsed = TypeVar("Parsed", OrderIn, BatchIn)


async def post_order(request: web.Request) -> web.Response:
    deps = authorize(request)
    order = _parse(deps, OrderIn, await json_body(request))
    (receipt,) = await _register(deps, [order], batch=False)
    return json_response(_out(deps, receipt), status=201 if receipt.created else 200)


async def post_batch(request: web.Request) -> web.Response:
    deps = authorize(request)
    batch = _parse(deps, BatchIn, await json_body(request))
    receipts = await _register(deps, batch.orders, batch=True)
    created = sum(r.created for r in receipts)
    out = BatchOut(
        orders=[_out(deps, r) for r in receipts], created=created, known=len(receipts) - created
    )
    return json_response(out)


def _parse(deps: ApiDeps, model: type[Parsed], body: bytes) -> Parsed:
    try:
        return model.model_validate_json(body)
    except ValidationError as error:
        if any(e["type"] == "json_invalid" for e in error.errors()):
            message = error.errors()[0]["msg"]
            raise ApiError.one(400, f"the body is not valid JSON: {message}") from None
        deps.metrics.orders.labels("rejected").inc()
        raise ApiError.invalid(error) from None


async def _register(deps: ApiDeps, orders: list[OrderIn], batch: bool) -> list[OrderReceipt]:
    for attempt in range(1, DB_ATTEMPTS + 1):
        try:
            receipts = await _in_transaction(deps, orders, batch)
            break
        except DBAPIError as error:
            if attempt == DB_ATTEMPTS:
                raise
            log.info("orders: database conflict, retrying: %s", error.orig)
    for receipt in receipts:
        deps.metrics.orders.labels("created" if receipt.created else "known").inc()
    return receipts


async def _in_transaction(deps: ApiDeps, orders: list[OrderIn], batch: bool) -> list[OrderReceipt]:
    now = deps.clock()
    news = [_new(order) for order in orders]
    for index, new in enumerate(news):  # the service's own checks, told apart by order
        try:
            validate_order(new, now)
        except OrderRejected as error:
            deps.metrics.orders.labels("rejected").inc()
            raise ApiError(422, [_rejected(error, f"orders[{index}]." if batch else "")]) from None
    async with deps.writes, deps.sessions.begin() as session:
        return await deps.journeys.register_orders(session, news, now)


def _new(order: OrderIn) -> NewOrder:
    return NewOrder(
        customer_ref=order.customer_ref, external_id=order.external_id,
        purchased_at=order.purchased_at, segment=order.segment, source="api",
    )  # fmt: skip


def _rejected(error: OrderRejected, prefix: str) -> ErrorItem:
    """'purchased_at: is in the future' → field purchased_at, message 'is in the future'."""
    field, _, message = str(error).partition(": ")
    return ErrorItem(field=prefix + field, message=message or field)


def _out(deps: ApiDeps, receipt: OrderReceipt) -> OrderOut:
    token = receipt.link_token
    return OrderOut(
        order_id=receipt.order_id, external_id=receipt.external_id,
        customer_ref=receipt.customer_ref, created=receipt.created, journey=receipt.journey,
        link=deps.deep_link(token) if token else None,
        link_expires_at=receipt.link_expires_at if token else None,
        first_wave_at=receipt.first_wave_at, cooldown_until=receipt.cooldown_until,
    )  # fmt: skip
