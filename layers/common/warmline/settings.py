"""Every function's configuration, read from its environment (set by template.yaml)."""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, model_validator

# The API key travels in every request: https, except to a server on this machine.
HTTPS_OR_LOOPBACK = re.compile(
    r"^(https://\S+|http://(localhost|127\.0\.0\.1|\[::1\])(:[0-9]{1,5})?(/\S*)?)$"
)
PLAIN_HTTP_TO_ADDRESS = re.compile(r"^http://[0-9.]+(:[0-9]{1,5})?(/\S*)?$")
# The networks a local docker daemon gives its bridges (`make sam-local`: 172.17.0.1).
PRIVATE_NETWORKS = tuple(
    ipaddress.ip_network(net) for net in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
)


class Settings(BaseModel):
    """Field `table_name` is read from the environment variable `TABLE_NAME`, and so on."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    table_name: str = "warmline"
    clone_jobs_queue_url: str = ""
    # The webhook warms this function (check_clone, with its alias when invoked through one) ahead
    # of the caller's press (warmline.prewarm); empty: no warm-up.
    check_clone_function_name: str = ""
    samples_bucket: str = ""

    # Secrets Manager ids (names or ARNs), never the secret values themselves.
    elevenlabs_api_key_secret: str = ""
    threecx_secret_name: str = ""
    agent_secret_name: str = ""
    caller_key_secret_name: str = ""
    operator_secret_name: str = ""
    pin_pepper_secret_name: str = ""
    # The HMAC secret ElevenLabs made with the post-call webhook (`configure` stores it there).
    post_call_secret_name: str = ""
    # With EdgeProtection=cloudfront-waf: the secret CloudFront adds as ORIGIN_HEADER (warmline.http);
    # empty without the edge, and then no origin header is needed.
    edge_origin_secret_name: str = ""
    secret_cache_seconds: int = Field(default=300, ge=0)
    # After a rotation the previous value of a shared secret is accepted this long (docs/deployment.md,
    # section 9); a value that matches neither makes the function read the secret afresh,
    # at most once per `secret_refresh_seconds`.
    secret_overlap_seconds: float = Field(default=3600, gt=0)
    secret_refresh_seconds: float = Field(default=10, ge=0)

    # Bounded waits (docs/api.md, "Time budgets"): each AWS attempt's timeouts and the attempts per call.
    # No outside call starts later than one attempt (and a moment to answer) before the invocation's
    # end; the secret reads at init start within `init_deadline_seconds`.
    aws_connect_timeout_seconds: float = Field(default=0.3, gt=0)
    aws_read_timeout_seconds: float = Field(default=0.7, gt=0)
    aws_max_attempts: int = Field(default=2, ge=1, le=5)
    init_deadline_seconds: float = Field(default=0.3, gt=0)

    elevenlabs_base_url: str = "https://api.elevenlabs.io"
    elevenlabs_agent_id: str = ""
    elevenlabs_agent_phone_number_id: str = ""
    outbound_telephony: Literal["sip_trunk", "twilio"] = "sip_trunk"

    greeting_mode: Literal["sip", "outbound"] = "sip"
    handoff_mode: Literal["transfer", "outbound", "agent_transfer"] = "transfer"
    # HandoffMode=agent_transfer (warmline.agent_slots): a voice slot is leased this long, at least
    # the longest conversation (ElevenLabs' max_duration_seconds, 600 s by default), and swept after.
    agent_slot_lease_seconds: int = Field(default=660, ge=60, le=7200)
    greeting_voice_id: str = "21m00Tcm4TlvDq8ikWAM"
    greeting_message: str = (
        "Hello, thanks for calling. One moment while we prepare your personal assistant. "
        "Press 1 to continue, or 2 to leave a message."
    )
    handoff_message: str = "Thanks for waiting. How can I help you today?"
    greeting_timeout_seconds: float = Field(default=35, gt=0)
    # What a caller still waiting at the greeting timeout gets (GreetingTimeoutFallback).
    greeting_timeout_fallback: Literal["default_voice", "voicemail"] = "default_voice"
    # One check's wait. The template allows at most 8 s (IvrMaxWaitSeconds): with the agent's
    # reassurance between checks the caller hears it within 10 s; up to 15 s for the bench's original.
    ivr_max_wait_seconds: float = Field(default=8, gt=0, le=15)
    ivr_first_poll_seconds: float = Field(default=0.05, gt=0)
    # The longest pause between reads bounds the lag between READY being written and the IVR
    # noticing it: 60 ms keeps the caller's readiness lag p99 near 100 ms (docs/benchmark.md), for
    # about 130 strongly consistent reads (under $0.00004) per full 8 s wait.
    ivr_max_poll_seconds: float = Field(default=0.06, gt=0)
    default_country_code: str = Field(default="", pattern=r"^[0-9]{0,3}$")

    clone_ttl_hours: float = Field(default=24, gt=0)
    clone_request_timeout_seconds: float = Field(default=45, gt=0)
    clone_max_receives: int = Field(default=3, ge=1)
    # Exists only so the benchmark can replay the original specification's timings (it slept
    # 100 ms before every clone); warmline itself never waits here.
    clone_start_delay_seconds: float = Field(default=0, ge=0, le=5)
    # A job that saw an ambiguous failure (timeout, 5xx, a killed earlier attempt) is looked at
    # again this much later, to delete a voice whose answer was lost but that was created after all.
    clone_recheck_delay_seconds: int = Field(default=300, ge=0, le=900)
    # While a job runs, its message is hidden for `clone_hide_seconds` at a time, renewed every
    # `clone_heartbeat_seconds`: a killed worker's job is seen again within `clone_hide_seconds`.
    clone_heartbeat_seconds: float = Field(default=10, gt=0)
    clone_hide_seconds: int = Field(default=30, ge=1, le=43200)
    # Voice slots: how long one execution environment trusts GET /v1/user/subscription, and how
    # long after its clone was last handed out a caller counts as possibly in a call (their voice
    # is then never deleted to make room).
    voice_slot_cache_seconds: float = Field(default=30, ge=0)
    voice_in_use_seconds: int = Field(default=3600, ge=0)
    # The voice sweep: an expired clone handed out less than this long ago is kept (a call may
    # still speak in it); with a 5-minute schedule the clone is gone within 10 minutes of expiry.
    # At most sweep_max_deletions voices are deleted per run; the rest wait for the next run.
    voice_expiry_grace_seconds: int = Field(default=300, ge=0, le=600)
    sweep_max_deletions: int = Field(default=50, ge=1)
    failed_retry_after_seconds: int = Field(default=300, ge=0)
    pending_expiry_seconds: int = Field(default=900, gt=0)
    # After check_clone's transfer_to_agent, the caller's re-entry (their conversation-init in the
    # cloned voice) is expected within this long: then it gets HandoffMessage (and, for a caller with
    # a PIN, the verified clone) and the handoff counts as completed; past it, the housekeeping sweep
    # counts it as lost, at most `handoff_sweep_max` per run (warmline.handoffs).
    handoff_window_seconds: int = Field(default=30, gt=0, le=600)
    handoff_sweep_max: int = Field(default=200, ge=1)
    # How long an incoming call through 3CX counts as "recent" when conversation-init or check_clone
    # asks whether the caller ElevenLabs reports came in through 3CX (warmline.caller_id).
    caller_id_window_seconds: int = Field(default=300, gt=0)
    # Callers with a PIN (warmline.verification): wrong PINs before a lock, and the first lock's length.
    pin_max_failures: int = Field(default=3, ge=1, le=10)
    pin_lockout_seconds: int = Field(default=900, ge=1, le=86_400)
    event_ttl_seconds: int = Field(default=30 * 86400, gt=0)
    # Set by `sam local invoke` and `sam local start-api`, never by Lambda: their containers reach
    # the servers of `make sam-local` on the docker bridge, so plain http to a private address is
    # accepted then, and only then.
    aws_sam_local: bool = False

    @model_validator(mode="after")
    def _elevenlabs_over_https(self) -> Settings:
        url = self.elevenlabs_base_url
        if HTTPS_OR_LOOPBACK.match(url) or (self.aws_sam_local and _private_address(url)):
            return self
        raise ValueError("elevenlabs_base_url must be https:// (plain http:// only to this machine)")

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        fields = cls.model_fields
        return cls.model_validate(
            {name.lower(): value for name, value in environ.items() if name.lower() in fields}
        )


def _private_address(url: str) -> bool:
    if not PLAIN_HTTP_TO_ADDRESS.match(url):
        return False
    try:
        address = ipaddress.ip_address(urlsplit(url).hostname or "")
    except ValueError:
        return False
    return any(address in network for network in PRIVATE_NETWORKS)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_environ(os.environ)
