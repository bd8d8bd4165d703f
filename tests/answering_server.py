"""A loopback HTTP server that answers every POST with what `answer(path)` gives, and keeps each
request it received: a test's stand-in for a service it needs only answers from (an AWS that fails,
another stack, warmline's endpoints as the official ElevenLabs client's tests or the simulated 3CX's
flow reach them)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = tuple[int, str, bytes]  # status, content type, body


class AnsweringServer:
    def __init__(self, answer: Callable[[str], Answer]) -> None:
        # Each request: its path, its headers as sent, its body.
        self.received: list[dict[str, Any]] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                received.append({"path": self.path, "headers": dict(self.headers), "body": body})
                status, content_type, body = answer(self.path)
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                """No request log on the test's output."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        # A short poll: close() waits for the loop to see it, up to one poll.
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> AnsweringServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
