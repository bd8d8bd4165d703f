"""`samples add --prewarm [--wait]`: queue a caller's clone now, and wait for it with a progress line."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from warmline.adapters.dynamodb import DynamoCloneStore
from warmline.adapters.sqs import SqsJobQueue
from warmline.calls import CloneRequests, PendingPolicy
from warmline.clone_state import CloneRecord, CloneStatus
from warmline.settings import Settings
from warmline_cli.console import CliError, say
from warmline_cli.samples import Caller, clone_store
from warmline_cli.target import Target

POLL_SECONDS = 0.5
PLAIN_PROGRESS_EVERY_SECONDS = 10.0  # without a terminal, a line per change of state and this often


def clone_requests(target: Target, store: DynamoCloneStore) -> CloneRequests:
    """The webhook's way of starting a clone, on the stack's table and queue."""
    queue = SqsJobQueue(target.client("sqs"), target.queue_url)
    return CloneRequests(store, queue, PendingPolicy.from_settings(Settings()))


def prewarm(target: Target, caller: Caller) -> None:
    store = clone_store(target)
    queued = clone_requests(target, store).request(caller.key, "", time.time())
    if queued:
        say("clone queued: the caller's first call will have it")
        return
    record = store.get_clone(caller.key)
    if record is not None and record.has_failed(time.time()):
        retry_at = time.strftime("%H:%M:%S UTC", time.gmtime(record.expires_at))
        say(
            f"none queued: the last clone failed ({record.error_code}); a new one can be queued from "
            f"{retry_at} (FailedRetryAfterSeconds): run this again then"
        )
    else:
        say("a clone for this caller is already ready or under way; none queued")


class _Progress:
    """One line on stderr: rewritten in place at a terminal, else printed when the state changes
    and every PLAIN_PROGRESS_EVERY_SECONDS (a log stays short)."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last_text = ""
        self.last_at = -PLAIN_PROGRESS_EVERY_SECONDS

    def show(self, state: str, waited: float) -> None:
        text = f"… clone {state}, {waited:.0f} s"
        if self.tty:
            print(f"\r{text}\033[K", end="", file=sys.stderr, flush=True)
        elif state != self.last_text or waited - self.last_at >= PLAIN_PROGRESS_EVERY_SECONDS:
            print(text, file=sys.stderr, flush=True)
            self.last_text, self.last_at = state, waited

    def end(self) -> None:
        if self.tty:
            print(file=sys.stderr, flush=True)


def wait_for_clone(
    target: Target, caller: Caller, timeout_seconds: float, clock: Callable[[], float] = time.monotonic
) -> int:
    """Until the caller's clone is READY (0) or FAILED, or `timeout_seconds` pass (CliError, exit 1)."""
    store = clone_store(target)
    started = clock()
    bar = _Progress()
    try:
        while True:
            record = store.get_clone(caller.key)
            waited = clock() - started
            state = _state(record)
            bar.show(state, waited)
            if state in ("ready", "failed", "none"):
                break
            if waited >= timeout_seconds:
                raise CliError(
                    f"the clone is still {state} after {timeout_seconds:g} s; the worker carries on: "
                    f"`warmline samples show --caller {caller.number}` tells when it is ready"
                )
            time.sleep(POLL_SECONDS)
    finally:
        bar.end()
    return _ended(record, caller, waited)


def _state(record: CloneRecord | None) -> str:
    if record is None or not record.is_live(time.time()):
        return "none"
    return record.status.value.lower()


def _ended(record: CloneRecord | None, caller: Caller, waited: float) -> int:
    if record is None or _state(record) == "none":
        raise CliError(f"no clone is under way for {caller.masked}: run `samples add --prewarm` again")
    if record.status is CloneStatus.FAILED:
        raise CliError(f"the clone failed: {record.error_code}: {record.error_message}")
    say(f"clone ready after {waited:.0f} s: voice {record.cloned_voice_id}")
    return 0
