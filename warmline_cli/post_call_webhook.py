"""HandoffMode=agent_transfer: `warmline elevenlabs configure` registers the stack's post-call webhook
at ElevenLabs, so a voice slot is freed when its call ends (warmline.post_call), not only when its
lease runs out.

ElevenLabs has one post-call webhook per workspace: a workspace webhook (`POST
/v1/workspace/webhooks`, HMAC; ElevenLabs makes its secret and answers it once, at creation) that
the ConvAI settings name (`PATCH /v1/convai/settings {"webhooks": {"post_call_webhook_id",
"events"}}`). The secret goes into the stack's PostCallWebhookSecret at once. A workspace whose
post-call webhook is someone else's is left alone: the step says what to do.
"""

from __future__ import annotations

from typing import Any

from warmline_cli.agent_setup import Step
from warmline_cli.elevenlabs_admin import AdminClient, object_list, text_field
from warmline_cli.target import Target

SECRET_ID = "PostCallWebhookSecret"
EVENT = "transcript"  # post_call_transcription: sent when a conversation has ended
STEP = "post-call webhook"


def register(client: AdminClient, target: Target, *, write: bool = True) -> Step:
    """The step `configure` takes (`write`), or `doctor` checks (not `write`: only reads)."""
    if not target.post_call_url or SECRET_ID not in target.secret_arns:
        return Step(
            STEP, "needed", "the stack has no post-call route: redeploy it with this warmline version"
        )
    hooks = object_list(client.get("/v1/workspace/webhooks"), "webhooks", "GET /v1/workspace/webhooks")
    ours = [hook for hook in hooks if hook.get("webhook_url") == target.post_call_url]
    settings = client.get("/v1/convai/settings").get("webhooks") or {}
    current = settings.get("post_call_webhook_id")
    events = [str(event) for event in settings.get("events") or []]
    if ours and current == ours[0].get("webhook_id") and EVENT in events:
        return Step(STEP, "ok", f"ElevenLabs sends every ended conversation to {target.post_call_url}")
    if current and current not in {hook.get("webhook_id") for hook in ours}:
        return Step(
            STEP,
            "needed",
            f"the workspace's post-call webhook ({current}) is not this stack's and ElevenLabs sends to one "
            f"only: voice slots are freed when their lease runs out. To free them at the hang-up, have "
            f"that webhook's receiver forward to {target.post_call_url}, or remove it and configure again",
        )
    if not write:
        return Step(STEP, "needed", f"ElevenLabs does not send ended conversations to {target.post_call_url}")
    webhook_id = ours[0]["webhook_id"] if ours else _create(client, target)
    change = {"post_call_webhook_id": webhook_id, "events": sorted({*events, EVENT})}
    client.write("PATCH", "/v1/convai/settings", {"webhooks": change})
    return Step(STEP, "changed", f"every ended conversation is sent to {target.post_call_url} ({webhook_id})")


def _create(client: AdminClient, target: Target) -> str:
    """A new HMAC workspace webhook; its secret (answered only now) into the stack's secret."""
    settings = {
        "auth_type": "hmac",
        "name": f"warmline-{target.label}-post-call",
        "webhook_url": target.post_call_url,
    }
    created: dict[str, Any] | None = client.write("POST", "/v1/workspace/webhooks", {"settings": settings})
    if created is None:  # a dry run
        return "(new webhook)"
    request = "POST /v1/workspace/webhooks"
    secret = text_field(created, "webhook_secret", request)
    target.client("secretsmanager").put_secret_value(
        SecretId=target.secret_arns[SECRET_ID], SecretString=secret
    )
    return text_field(created, "webhook_id", request)
