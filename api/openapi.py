"""The OpenAPI 3.1 document, generated from the models the handlers validate and answer
with (api/models.py), so it cannot drift from the code."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from api.models import (
    BatchIn,
    BatchOut,
    ErrorOut,
    HealthOut,
    OrderIn,
    OrderOut,
    ReportOut,
    ReportQuery,
)

REF = "#/components/schemas/{model}"
_MODELS: list[tuple[type[BaseModel], JsonSchemaMode]] = [
    (OrderIn, "validation"), (BatchIn, "validation"), (OrderOut, "serialization"),
    (BatchOut, "serialization"), (ErrorOut, "serialization"), (ReportOut, "serialization"),
    (HealthOut, "serialization"),
]  # fmt: skip
_ERRORS = {
    "400": "The body is not JSON",
    "401": "No API key, or a wrong one",
    "413": "The body is too large (1 MiB at most)",
    "415": "The body is not sent as application/json",
    "422": "A field is missing or invalid; `field` says which",
    "503": "CJM_API_KEY is not set on the server",
}


async def get_openapi(_request: web.Request) -> web.Response:
    return web.json_response(text=_text())


@cache
def _text() -> str:
    return json.dumps(document())


def document() -> dict[str, Any]:
    refs, top = models_json_schema(_MODELS, ref_template=REF)
    ref = {model: refs[(model, mode)] for model, mode in _MODELS}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Customer journey bot API",
            "version": "1",
            "description": "Register orders (each starts a customer's journey) and read the "
            "journey-map report. Send `Authorization: Bearer <CJM_API_KEY>`.",
        },
        "paths": _paths(ref),
        "components": {
            "schemas": top["$defs"],
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def _paths(ref: dict[type[BaseModel], Any]) -> dict[str, Any]:
    order_errors = _errors(ref, "400", "401", "413", "415", "422", "503")
    return {
        "/api/v1/orders": {"post": {
            "summary": "Register one order (idempotent on external_id)",
            "operationId": "postOrder", "security": [{"bearer": []}],
            "requestBody": _body(ref[OrderIn]),
            "responses": {
                "201": _json("The order was registered", ref[OrderOut]),
                "200": _json("This external id was registered before: that order",
                             ref[OrderOut]),
                **order_errors,
            },
        }},
        "/api/v1/orders/batch": {"post": {
            "summary": "Register up to 1,000 orders: all of them, or none (422)",
            "operationId": "postOrderBatch", "security": [{"bearer": []}],
            "requestBody": _body(ref[BatchIn]),
            "responses": {
                "200": _json("One result per order, in order", ref[BatchOut]),
                **order_errors,
            },
        }},
        "/api/v1/report": {"get": {
            "summary": "The journey-map report for a period and segment",
            "operationId": "getReport", "security": [{"bearer": []}],
            "parameters": _query(ReportQuery),
            "responses": {
                "200": _json("The report", ref[ReportOut]),
                **_errors(ref, "401", "422", "503"),
            },
        }},
        "/api/v1/openapi.json": {"get": {
            "summary": "This document", "operationId": "getOpenapi",
            "responses": {"200": _json("OpenAPI 3.1", {"type": "object"})},
        }},
        "/healthz": {"get": {
            "summary": "Database, scheduler and Telegram: 200 when all work, else 503",
            "operationId": "getHealth",
            "responses": {
                "200": _json("Healthy", ref[HealthOut]),
                "503": _json("Something is failing: see which", ref[HealthOut]),
            },
        }},
        "/metrics": {"get": {
            "summary": "Prometheus metrics", "operationId": "getMetrics",
            "responses": {"200": {
                "description": "Prometheus text format 0.0.4",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            }},
        }},
    }  # fmt: skip


def _json(description: str, schema: Any) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _body(schema: Any) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _errors(ref: dict[type[BaseModel], Any], *codes: str) -> dict[str, Any]:
    responses = {code: _json(_ERRORS[code], ref[ErrorOut]) for code in codes}
    if "401" in responses:
        responses["401"]["headers"] = {
            "WWW-Authenticate": {"schema": {"type": "string"}, "required": True}
        }
    return responses


def _query(model: type[BaseModel]) -> list[dict[str, Any]]:
    """The model's fields as optional query parameters; an empty value (`segment=`) is the
    same as leaving the parameter out."""
    schema = model.model_json_schema(by_alias=True)
    parameters = []
    for name, prop in schema["properties"].items():
        options = [p for p in prop.get("anyOf", [prop]) if p.get("type") != "null"]
        (kind,) = options
        kind = {k: v for k, v in kind.items() if k not in ("title", "description")}
        if prop.get("default") is not None:
            kind["default"] = prop["default"]
        parameter = {
            "name": name, "in": "query", "required": False,
            "schema": {"anyOf": [kind, {"type": "string", "maxLength": 0}]},
        }  # fmt: skip
        if "description" in prop:
            parameter["description"] = prop["description"]
        parameters.append(parameter)
    return parameters
