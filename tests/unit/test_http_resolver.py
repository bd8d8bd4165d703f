"""warmline.http's resolver answers exactly as the hand-written dispatcher did: JSON bodies with a
lower-case content-type, the secret checked before the body is read, 404/4xx/503/500 by name."""

import json
from typing import Annotated

import pytest
from pydantic import BaseModel

from warmline.http import HttpError, http_app, json_body, json_response, secret_required


class Echo(BaseModel):
    word: str


class Secret:
    def accepts(self, given: str) -> bool:
        return given == "right"


def build():
    app = http_app()
    guarded = [secret_required(Secret)]

    @app.post("/echo", middlewares=guarded)
    def echo(request: Annotated[Echo, json_body(Echo)]):
        return json_response(200, {"word": request.word})

    @app.get("/fail/<kind>")
    def fail(kind: str):
        raise {"http": HttpError(409, "conflict", "no"), "timeout": TimeoutError(), "bug": KeyError("x")}[
            kind
        ]

    return app


def resolve(app, method, path, body=None, headers=None):
    event = {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "headers": {"content-type": "application/json", **(headers or {})},
        "requestContext": {"http": {"method": method, "path": path}, "stage": "$default"},
        "body": body,
        "isBase64Encoded": False,
    }
    response = app.resolve(event, None)
    assert response["headers"] == {"content-type": "application/json"}
    return response["statusCode"], json.loads(response["body"])


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "answer"),
    [
        ("GET", "/nowhere", None, {}, (404, {"error": "not_found", "message": "no such route"})),
        ("GET", "/echo", None, {}, (404, {"error": "not_found", "message": "no such route"})),
        ("GET", "/fail/http", None, {}, (409, {"error": "conflict", "message": "no"})),
        (
            "GET",
            "/fail/timeout",
            None,
            {},
            (503, {"error": "timeout", "message": "warmline could not answer in time"}),
        ),
        (
            "GET",
            "/fail/bug",
            None,
            {},
            (500, {"error": "internal_error", "message": "warmline could not handle the request"}),
        ),
        # The secret before the body: a bad body without the secret is a 401, not a 400.
        (
            "POST",
            "/echo",
            "[" * 100,
            {},
            (401, {"error": "unauthorized", "message": "missing x-warmline-secret header"}),
        ),
        (
            "POST",
            "/echo",
            "{}",
            {"x-warmline-secret": "wrong"},
            (401, {"error": "unauthorized", "message": "wrong x-warmline-secret header"}),
        ),
        ("POST", "/echo", '{"word": "hi"}', {"x-warmline-secret": "right"}, (200, {"word": "hi"})),
    ],
)
def test_every_answer_is_json_by_name(method, path, body, headers, answer):
    assert resolve(build(), method, path, body, headers) == answer


def test_a_body_problem_is_the_4xx_that_names_it():
    app, secret = build(), {"x-warmline-secret": "right"}

    status, answer = resolve(app, "POST", "/echo", '{"word": 1}', secret)
    assert (status, answer["error"], answer["details"]) == (
        400,
        "invalid_request",
        [{"field": "word", "problem": "Input should be a valid string"}],
    )
    assert resolve(app, "POST", "/echo", "x" * (16 * 1024 + 1), secret)[0] == 413
    status, answer = resolve(app, "POST", "/echo", "{}", {**secret, "content-type": "text/plain"})
    assert (status, answer["error"]) == (415, "unsupported_media_type")
