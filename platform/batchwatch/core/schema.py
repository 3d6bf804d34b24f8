"""OpenAPI description of the API (drf-spectacular): our authentication schemes, and the
refusals every operation can answer.

drf-spectacular documents only an operation's success. Clients (and schemathesis in
``tests/api/``) need the refusals too, so ``AutoSchema`` adds them where the code can answer
them: 400 with the errors per field (every operation reads a query, a path or a body),
401/403/429 where credentials are required, 404 for an unknown id, 409 for writes, 415 for
bodies and 503 when the database is unavailable (429 and 503 with Retry-After; see
``core.api.exception_handler``). A status an operation documents itself is kept.
"""

from __future__ import annotations

from django.core.exceptions import FieldDoesNotExist
from drf_spectacular import openapi
from drf_spectacular.extensions import (
    OpenApiAuthenticationExtension,
    OpenApiSerializerFieldExtension,
)
from drf_spectacular.plumbing import ResolvedComponent
from rest_framework.permissions import AllowAny

_WHERE = (
    "A personal API token (`bwt_…`): create one on the account page (/account/tokens/), "
    "with POST /api/v1/tokens/, or with `manage.py create_api_token`."
)


class TokenScheme(OpenApiAuthenticationExtension):
    target_class = "batchwatch.accounts.authentication.TokenAuthentication"
    name = "tokenAuth"
    priority = 1  # over spectacular's own TokenAuthentication extension, which matches subclasses

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": f"Send `Authorization: Token <token>`. {_WHERE}",
        }


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "batchwatch.accounts.authentication.BearerTokenAuthentication"
    name = "bearerAuth"
    priority = 1

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": _WHERE}


class WallClockTime(OpenApiSerializerFieldExtension):
    """A time of day is a wall-clock time in its object's time zone (an SLO's deadline, a
    rotation's hand-off): ``06:00:00``, with no UTC offset. OpenAPI's ``format: time`` is
    RFC 3339's, which requires one, and no client could send or read ours under it."""

    target_class = "rest_framework.fields.TimeField"

    def map_serializer_field(self, auto_schema, direction):
        return {
            "type": "string",
            "pattern": r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?$",
            "example": "06:00:00",
            "description": "A wall-clock time, HH:MM[:SS], in the object's time zone.",
        }


# The two bodies of a refusal: DRF's exceptions and core.api.exception_handler.
ERROR_SCHEMAS = {
    "Error": {
        "type": "object",
        "description": "A refusal, with a sentence saying why.",
        "properties": {"detail": {"type": "string"}},
        "required": ["detail"],
    },
    "ValidationErrors": {
        "type": "object",
        "description": (
            "Invalid input: the errors per field (a query parameter, a body field, or "
            "`non_field_errors`), each a list of sentences; or a `detail` sentence."
        ),
        "additionalProperties": {},
    },
}

RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer", "minimum": 0},
    }
}

# status -> (body component, description, headers)
REFUSALS = {
    "400": ("ValidationErrors", "Invalid input.", None),
    "401": ("Error", "No credentials, or unknown, expired or revoked ones.", None),
    "403": ("Error", "Not allowed for this account (not a member of the owner team).", None),
    "404": ("Error", "No such object.", None),
    "409": ("Error", "The change conflicts with existing data.", None),
    "415": ("Error", "The body's Content-Type is not one this operation reads.", None),
    "429": ("Error", "Too many wrong credentials from this address; retry later.", RETRY_AFTER),
    "503": ("Error", "The database is unavailable; retry shortly.", RETRY_AFTER),
}
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
BODIES = {"POST", "PUT", "PATCH"}


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's AutoSchema, plus the refusals an operation can answer, and null
    where the model lets a value be null."""

    def _get_serializer_field_meta(self, field, direction):
        meta = super()._get_serializer_field_meta(field, direction)
        # spectacular takes a declared field's word for it (``allow_null``); an answer holds
        # null whenever a model field on the field's path may (an incident's assignee, a
        # run's parent, an unowned job's team), and DRF reads a null link as null.
        if direction == "response" and _model_allows_null(field):
            meta["nullable"] = True
        return meta

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        for status in self._refusals():
            if status in responses:
                continue
            name, description, headers = REFUSALS[status]
            component = ResolvedComponent(
                name=name, type=ResolvedComponent.SCHEMA, object=name, schema=ERROR_SCHEMAS[name]
            )
            self.registry.register_on_missing(component)
            response = {
                "description": description,
                "content": {"application/json": {"schema": component.ref}},
            }
            if headers:
                response["headers"] = headers
            responses[status] = response
        return responses

    def _refusals(self) -> list[str]:
        statuses = ["400"]
        if not all(isinstance(p, AllowAny) for p in self.view.get_permissions()):
            statuses += ["401", "403", "429"]
        if "{" in self.path:
            statuses.append("404")
        if self.method in WRITES:
            statuses.append("409")
        if self.method in BODIES:
            statuses.append("415")
        statuses.append("503")
        return statuses


def _model_allows_null(field) -> bool:
    """Whether a model field on a serializer field's source path (``job.owner_team.slug``)
    may be null."""
    model = getattr(getattr(field.parent, "Meta", None), "model", None)
    source = getattr(field, "source", None)
    if model is None or not source or source == "*":
        return False
    for name in source.split("."):
        try:
            model_field = model._meta.get_field(name)
        except FieldDoesNotExist:
            return False
        if getattr(model_field, "null", False):
            return True
        model = model_field.related_model
        if model is None:
            return False
    return False
