"""What the OpenAPI schema says about answers FastAPI cannot infer: errors, the state, the login form.

The schema is not served (``openapi_url=None``: nothing to see without a code); ``app.openapi()``
builds it for the docs and for the fuzzing tests (tests/test_fuzz_api.py), which check every
answer against it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from tracker.meeting.session import MeetingSnapshot


class ErrorDetail(BaseModel):
    """Every error answer: what was wrong and what was expected."""

    detail: str


class ValidationIssue(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class InvalidInput(BaseModel):
    """422: a reason from the meeting (text), or FastAPI's list of invalid fields."""

    detail: str | list[ValidationIssue]


Responses = dict[int | str, dict[str, Any]]

# Answers any route may give (the middleware's, and FastAPI's for unusable input).
ERROR_RESPONSES: Responses = {
    400: {"model": ErrorDetail, "description": "a body that is not the JSON it claims to be"},
    401: {"model": ErrorDetail, "description": "no valid meeting code or token"},
    403: {"model": ErrorDetail, "description": "a viewer's code on a control, or a foreign origin"},
    404: {"model": ErrorDetail, "description": "no such meeting, person or path"},
    405: {"model": ErrorDetail, "description": "the path exists, but not for this method"},
    409: {"model": ErrorDetail, "description": "the control does not fit the meeting's state"},
    413: {"model": ErrorDetail, "description": "request body over max_message_bytes"},
    422: {"model": InvalidInput, "description": "unusable input, with the reason"},
    429: {"model": ErrorDetail, "description": "too many requests or wrong codes from this address (see Retry-After)"},
}

STATE_RESPONSES: Responses = {200: {"model": MeetingSnapshot, "description": "the meeting's (new) state"}}
STATE_CREATED: Responses = {201: {"model": MeetingSnapshot, "description": "the meeting's new state"}}

_HTML = {"text/html": {"schema": {"type": "string"}}}
PAGE_RESPONSES: Responses = {
    200: {"content": _HTML, "description": "the dashboard (with a valid cookie), or the login page (no code presented)"},
    303: {"description": "`?code=` moved into the URL's fragment (`/#code=...`) for the login page's script; "
                         "logged in, on to `?next=` (a path of this site)"},
    401: {"content": _HTML, "description": "the login page, after a wrong or old code"},
}
LOGIN_RESPONSES: Responses = {
    303: {"description": "logged in: the cookie is set, go to `next` (a path of this site) or /"},
    401: {"content": _HTML, "description": "the login page, saying the code is not right"},
    429: {"content": _HTML, "description": "the login page, saying how long to wait (Retry-After)"},
}
LOGIN_FORM: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {"type": "object", "properties": {"code": {"type": "string"}, "next": {"type": "string"}},
                           "required": ["code"]}
            }
        },
    }
}
REPORT_RESPONSES: Responses = {
    200: {
        "description": "the report, as `format` asks (html and json inline, pdf and csv as a download)",
        "content": {
            "text/html": {"schema": {"type": "string"}},
            "application/pdf": {"schema": {"type": "string", "format": "binary"}},
            "text/csv": {"schema": {"type": "string"}},
            "application/json": {"schema": {"type": "object"}},
        },
    },
    503: {"model": ErrorDetail, "description": "the meeting store cannot be read (the reason says why)"},
}
LOGOUT_RESPONSES: Responses = {303: {"description": "the cookie is deleted, go to /"}}
