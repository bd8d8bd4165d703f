"""What a call's events must answer, whether a handler runs in process
(tests/integration/test_sam_local_events.py) or in SAM's container (test_sam_local_docker.py)."""

from __future__ import annotations

import json
from typing import Any


def check_call(answers: dict[str, Any], voices_made: int) -> None:
    """answers: events/ file name -> its handler's answer, run in the order a call goes."""
    incoming = answers["incoming_call.json"]
    assert incoming["statusCode"] == 200, incoming
    assert json.loads(incoming["body"])["clone_status"] == "pending"
    assert answers["clone_job.json"] == {"batchItemFailures": []}
    assert voices_made > 0, "the clone job made no voice"
    check = json.loads(answers["check_clone.json"]["body"])
    assert (answers["check_clone.json"]["statusCode"], check["next_action"]) == (200, "transfer_to_agent")
    init = answers["conversation_init.json"]
    assert init["statusCode"] == 200 and json.loads(init["body"])["dynamic_variables"]["warmline_mode"]
    metrics = answers["cloning_metrics.json"]
    assert metrics["statusCode"] == 200 and json.loads(metrics["body"])["counts"]["handoffs"] == 1
    assert "error" not in json.dumps(answers["scheduled.json"]["sweeps"])
