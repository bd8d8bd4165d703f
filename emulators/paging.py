"""One page of a Conversational AI list, as ElevenLabs answers them (agents, tests, conversations)."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request


def cursor_page(name: str, items: list[Any], page_size: int) -> Response:
    """`{name: [...], "has_more", "next_cursor"}`: the page of `items` that starts at the request's
    `cursor` (the index this emulator hands out as the next page's cursor)."""
    cursor = request.args.get("cursor") or ""
    start = int(cursor) if cursor.isdigit() else 0
    has_more = start + page_size < len(items)
    return jsonify(
        {
            name: items[start : start + page_size],
            "has_more": has_more,
            "next_cursor": str(start + page_size) if has_more else None,
        }
    )
