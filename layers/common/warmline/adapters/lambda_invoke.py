"""Lambda's Invoke API, asynchronously: the warm-up of another function (warmline.prewarm)."""

from __future__ import annotations

import json
from typing import Any

from warmline.prewarm import WARM_UP_EVENT

_PAYLOAD = json.dumps(WARM_UP_EVENT).encode()


class LambdaWarmUpInvoke:
    """`function_name` is a name or ARN, with an alias (`name:live`) when the function is invoked
    through one: an environment of the alias's version is what the callers' requests reach."""

    def __init__(self, client: Any, function_name: str) -> None:
        self._client = client
        self._function_name = function_name

    def warm(self) -> None:
        # InvocationType Event: Lambda queues the invocation and answers 202 at once.
        self._client.invoke(FunctionName=self._function_name, InvocationType="Event", Payload=_PAYLOAD)
