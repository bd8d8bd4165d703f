"""The tests' own HTTP requests: httpx's functions and client, with the product's one TLS context.

httpx builds a TLS context for each request or client it is not handed one (reading certifi's
bundle, 28 ms of CPU), even for a plain-http URL: some 340 a test run before this module.
"""

from __future__ import annotations

from typing import Any

import httpx

from warmline.adapters.elevenlabs import tls_context


def request(method: str, url: str, **options: Any) -> httpx.Response:
    return httpx.request(method, url, verify=tls_context(), **options)


def get(url: str, **options: Any) -> httpx.Response:
    return request("GET", url, **options)


def post(url: str, **options: Any) -> httpx.Response:
    return request("POST", url, **options)


def patch(url: str, **options: Any) -> httpx.Response:
    return request("PATCH", url, **options)


def delete(url: str, **options: Any) -> httpx.Response:
    return request("DELETE", url, **options)


def client(**options: Any) -> httpx.Client:
    return httpx.Client(verify=tls_context(), **options)
