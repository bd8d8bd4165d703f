"""`warmline secrets rotate NAME`: a new value for one of the shared secrets, with an overlap window.

The new value becomes the secret's current version (AWSCURRENT); Secrets Manager keeps the old one as
AWSPREVIOUS, and the functions accept it until `SecretOverlapSeconds` (default 1 hour) after the new
version was made (warmline.shared_secrets). In that window the callers switch over:
- agent: the ElevenLabs workspace secret that the agent's webhook and check_clone tool send is
  updated here, at once;
- threecx: the new header value is printed, to paste into the 3CX call flow;
- operator: the new value is printed, for whoever reads GET /api/metrics/cloning.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from datetime import UTC, timedelta

from warmline_cli.agent_setup import AgentSetup
from warmline_cli.console import OK, UsageError, say, warn
from warmline_cli.elevenlabs_admin import AdminClient
from warmline_cli.target import Target

VALUE_LENGTH = 40  # as the template generates them: letters and digits
DEFAULT_OVERLAP_SECONDS = 3600


@dataclass(frozen=True)
class SharedSecretSpec:
    logical_id: str
    used_by: str


ROTATABLE = {
    "threecx": SharedSecretSpec("ThreeCxSecret", "the 3CX call flow's X-Warmline-Secret header"),
    "agent": SharedSecretSpec("AgentSecret", "the ElevenLabs agent's webhook and check_clone tool"),
    "operator": SharedSecretSpec("OperatorSecret", "GET /api/metrics/cloning"),
}
NOT_ROTATABLE = {
    "caller-key": "it keys the table: every registered caller would be lost",
    "pin-pepper": "it keys the stored PIN hashes: every caller's PIN would have to be set again",
    "elevenlabs": "make a new API key at ElevenLabs and put it with `aws secretsmanager put-secret-value`"
    " (docs/deployment.md, step 3)",
}


def new_value() -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(VALUE_LENGTH))


def rotate(target: Target, name: str) -> int:
    spec = _spec(name)
    value = new_value()
    client = target.client("secretsmanager")
    client.put_secret_value(SecretId=target.secret_arns[spec.logical_id], SecretString=value)
    made = client.get_secret_value(SecretId=target.secret_arns[spec.logical_id])["CreatedDate"]
    overlap = float(target.parameters.get("SecretOverlapSeconds") or DEFAULT_OVERLAP_SECONDS)
    until = (made.astimezone(UTC) + timedelta(seconds=overlap)).isoformat(timespec="seconds")
    say(f"{OK} {name}: a new value is current for {spec.used_by}")
    say(f"  the previous value is still accepted until {until} ({overlap:g} s after the new one was made)")
    if name == "agent":
        return _update_workspace_secret(target, value)
    if name == "threecx":
        say("  In the 3CX Call Flow Designer, set the project variable WarmlineSecret (in quotes) or run")
        say("  `warmline 3cx flow` again, and publish the app before the window ends:")
    else:
        say("  Give the new value to whoever reads the cloning metrics before the window ends:")
    say(f"  X-Warmline-Secret = {value}")
    return 0


def _spec(name: str) -> SharedSecretSpec:
    if name in NOT_ROTATABLE:
        raise UsageError(f"the {name} secret is not rotated with this command: {NOT_ROTATABLE[name]}")
    if name not in ROTATABLE:
        raise UsageError(f"no shared secret named {name!r}: one of {', '.join(ROTATABLE)}")
    return ROTATABLE[name]


def _update_workspace_secret(target: Target, value: str) -> int:
    """The agent sends the workspace secret: point it at the new value now (the old still works)."""
    client = AdminClient(target.secret("ElevenLabsApiKeySecret"), target.elevenlabs_base_url)
    try:
        step = AgentSetup(client, target, target.default_agent_id, value).workspace_secret()
    finally:
        client.close()
    if step.state == "needed":
        warn(f"ElevenLabs workspace secret: {step.detail}")
        return 1
    say(f"{OK} ElevenLabs workspace secret: {step.detail}")
    say("  The agent's conversation-init webhook and check_clone tool send the new value from now on.")
    return 0
