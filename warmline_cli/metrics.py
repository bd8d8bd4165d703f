"""`warmline metrics`: GET /api/metrics/cloning with the operator secret, as a table or as its JSON."""

from __future__ import annotations

from typing import Any

import httpx

from warmline.adapters.elevenlabs import tls_context
from warmline_cli.console import CliError, UsageError, emit_json, say
from warmline_cli.target import Target

TIMEOUT_SECONDS = 30.0  # the endpoint answers well inside API Gateway's 30 s


def fetch(target: Target, window_from: str | None, window_to: str | None) -> dict[str, Any]:
    """The endpoint's JSON document (docs/observability.md), or a CliError naming the problem."""
    if not target.metrics_url:
        raise CliError(f"{target.description} has no CloningMetricsUrl output: deploy the current template")
    query = {name: value for name, value in (("from", window_from), ("to", window_to)) if value}
    headers = {"X-Warmline-Secret": target.secret("OperatorSecret")}
    try:
        answer = httpx.get(
            target.metrics_url, params=query, headers=headers, timeout=TIMEOUT_SECONDS, verify=tls_context()
        )
    except httpx.HTTPError as error:
        raise CliError(
            f"no answer from {target.metrics_url} ({type(error).__name__}): is the stack up?"
        ) from None
    try:
        body = answer.json()
    except ValueError:
        body = {}
    if answer.status_code == 200 and isinstance(body, dict):
        return body
    message = body.get("message", "") if isinstance(body, dict) else ""
    if answer.status_code == 400:
        details = body.get("details") or [{}]
        raise UsageError(f"--{details[0].get('field', 'from')}: {details[0].get('problem', message)}")
    if answer.status_code == 401:
        raise CliError("the metrics endpoint refuses the OperatorSecret value: was it rotated just now?")
    raise CliError(f"the metrics endpoint answered {answer.status_code} {message or answer.text[:120]}")


def _value(name: str, value: Any) -> str:
    if value is None:
        return "-"  # no event backs this figure in the window
    if name.endswith("_rate"):
        return f"{value * 100:.1f}%"
    if name.endswith("_ms"):
        return f"{value:g} ms"
    return str(value)


def rows(figures: dict[str, Any]) -> list[tuple[str, str]]:
    """The figures as (name, value) lines: the window, then each figure, then each count."""
    skip = {"from", "to", "from_ms", "to_ms", "counts", "version"}
    lines = [("window", f"{figures.get('from')} to {figures.get('to')}")]
    lines += [(name, _value(name, value)) for name, value in figures.items() if name not in skip]
    for name, value in (figures.get("counts") or {}).items():
        if isinstance(value, dict):
            lines += [(f"{name}.{part}", str(count)) for part, count in value.items()]
        else:
            lines.append((name, str(value)))
    lines.append(("warmline version", str(figures.get("version", "-"))))
    return lines


def metrics(target: Target, window_from: str | None, window_to: str | None, as_json: bool) -> int:
    figures = fetch(target, window_from, window_to)
    if as_json:
        emit_json(figures)
        return 0
    width = max(len(name) for name, _ in rows(figures))
    for name, value in rows(figures):
        say(f"{name:<{width}}  {value}")
    return 0
