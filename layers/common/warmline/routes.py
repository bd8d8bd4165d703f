"""warmline's HTTP routes, written once: the handlers register them, the metrics name them, and a test
holds template.yaml's HttpApi events (which must spell them out) equal to them."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # as API Gateway writes it: /api/ivr/check-clone/{caller_id}

    @property
    def key(self) -> str:
        """API Gateway's routeKey for this route."""
        return f"{self.method} {self.path}"

    @property
    def rule(self) -> str:
        """The path as Powertools' resolver writes it: /api/ivr/check-clone/<caller_id>."""
        return re.sub(r"\{(\w+)\}", r"<\1>", self.path)


INCOMING_CALL = Route("POST", "/api/calls/incoming")
CONVERSATION_INIT = Route("POST", "/api/agent/conversation-init")
POST_CALL = Route("POST", "/api/agent/post-call")
CHECK_CLONE = Route("POST", "/api/ivr/check-clone/{caller_id}")
CLONING_METRICS = Route("GET", "/api/metrics/cloning")
ALL_ROUTES = (INCOMING_CALL, CONVERSATION_INIT, POST_CALL, CHECK_CLONE, CLONING_METRICS)
