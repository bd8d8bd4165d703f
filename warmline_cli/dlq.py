"""`warmline dlq list|redrive`: the clone jobs that failed every delivery (the dead-letter queue).

A job reaches the dead-letter queue after its last delivery marked the caller's clone FAILED. Put
back as it is, the worker would find that FAILED record and do nothing; so `redrive` asks again for
what the job asked for: it clears the caller's FAILED record and queues a fresh clone job on the
clone-jobs queue (the same request a call makes), then deletes the dead letter. A caller whose
record is CLONING under a lease that has lapsed (its worker died) is not under way: redrive takes
the lease over with the worker's conditional write and queues that record's job again. A job whose
caller is no longer registered, or whose caller has a clone ready or truly under way (PENDING, or
a live lease), is done: its letter is deleted. A message that is not a clone job is left where it is.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from warmline.calls import CloneRequests
from warmline.clone_state import CloneJob
from warmline_cli.console import OK, CliError, confirm, emit_json, say
from warmline_cli.prewarm import clone_requests
from warmline_cli.samples import clone_store, iso
from warmline_cli.target import Target

HIDE_SECONDS = 120  # the letters stay hidden from other readers while this command looks at them
MAX_LETTERS = 1000


@dataclass(frozen=True)
class Letter:
    message_id: str
    receipt_handle: str
    job: CloneJob | None  # None: the body is not a clone job
    sent_at_ms: int


class DeadLetters:
    def __init__(self, target: Target) -> None:
        if not target.dead_letter_queue_url:
            raise CliError(f"{target.description} has no CloneJobsDeadLetterQueueUrl output")
        self.target = target
        self.url = target.dead_letter_queue_url
        self.sqs = target.client("sqs")
        self.store = clone_store(target)

    def receive_all(self) -> list[Letter]:
        """Every letter, hidden for HIDE_SECONDS (long polls of 1 s until one comes back empty)."""
        letters: dict[str, Letter] = {}
        while len(letters) < MAX_LETTERS:
            answer = self.sqs.receive_message(
                QueueUrl=self.url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=HIDE_SECONDS,
                WaitTimeSeconds=1,
                AttributeNames=["SentTimestamp"],
            )
            messages = answer.get("Messages", [])
            if not messages:
                break
            for message in messages:
                letters[message["MessageId"]] = _letter(message)
        return sorted(letters.values(), key=lambda letter: letter.sent_at_ms)

    def release(self, letters: list[Letter]) -> None:
        """Visible again at once, for the next reader (or the next redrive)."""
        for letter in letters:
            self.sqs.change_message_visibility(
                QueueUrl=self.url, ReceiptHandle=letter.receipt_handle, VisibilityTimeout=0
            )

    def delete(self, letter: Letter) -> None:
        self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=letter.receipt_handle)

    def describe(self, letter: Letter) -> dict[str, Any]:
        """A letter for `dlq list` (keys in docs/cli.md)."""
        job = letter.job
        state = self.store.load(job.caller_key) if job is not None else None
        live = state.clone if state and state.clone and state.clone.is_live(time.time()) else None
        return {
            "message_id": letter.message_id,
            "sent_at": iso(letter.sent_at_ms),
            "job_id": job.job_id if job else None,
            "caller_key": job.caller_key if job else None,
            "requested_at": iso(job.requested_at_ms) if job else None,
            "registered": bool(state and state.profile is not None),
            "clone_status": live.status.value.lower() if live else "none",
        }


def _letter(message: dict[str, Any]) -> Letter:
    try:
        job: CloneJob | None = CloneJob(**json.loads(message["Body"]))
    except (TypeError, ValueError):
        job = None
    sent = int(message.get("Attributes", {}).get("SentTimestamp", 0))
    return Letter(message["MessageId"], message["ReceiptHandle"], job, sent)


def list_letters(target: Target, as_json: bool) -> int:
    queue = DeadLetters(target)
    letters = queue.receive_all()
    queue.release(letters)
    described = [queue.describe(letter) for letter in letters]
    if as_json:
        emit_json({"queue_url": queue.url, "messages": described})
        return 0
    if not described:
        say("the clone jobs' dead-letter queue is empty")
        return 0
    say(f"{'sent':<20}  {'caller key':<36}  {'registered':<10}  {'clone':<8}  message id")
    for item in described:
        sent = (item["sent_at"] or "-").replace("T", " ")
        key = item["caller_key"] or "(not a clone job)"
        registered = "yes" if item["registered"] else "no"
        say(f"{sent:<20}  {key:<36}  {registered:<10}  {item['clone_status']:<8}  {item['message_id']}")
    return 0


def redrive(target: Target, yes: bool) -> int:
    queue = DeadLetters(target)
    letters = queue.receive_all()
    if not letters:
        say("the clone jobs' dead-letter queue is empty: nothing to redrive")
        return 0
    left = list(letters)
    try:
        confirm(f"Redrive {len(letters)} dead-lettered clone job(s): clone their callers again?", yes)
        outcomes = []
        for letter in letters:
            outcomes.append(_redrive_one(queue, letter))
            left.remove(letter)
    finally:
        queue.release(left)
    failed = sum(1 for outcome in outcomes if outcome == "failed")
    say(
        f"redrove {len(letters) - failed} of {len(letters)} letter(s)"
        + (f"; {failed} failed" if failed else "")
    )
    return 1 if failed else 0


def _redrive_one(queue: DeadLetters, letter: Letter) -> str:
    job = letter.job
    if job is None:
        queue.release([letter])
        say(f"{letter.message_id}: not a clone job; left in the queue")
        return "left"
    state = queue.store.load(job.caller_key)
    if state.profile is None:
        queue.delete(letter)
        say(f"{job.caller_key}: no longer registered; the letter is deleted")
        return "done"
    try:
        done = ask_again(clone_requests(queue.target, queue.store), job, time.time())
    except Exception as error:
        say(f"{job.caller_key}: not redriven ({error}); the letter stays in the queue")
        return "failed"
    queue.delete(letter)
    say(f"{OK} {job.caller_key}: {done}")
    return "done"


def ask_again(requests: CloneRequests, job: CloneJob, now: float) -> str:
    """Ask again for the dead job's clone; what was done. A FAILED record is forgotten and a fresh
    job queued, as a call would; a CLONING record whose worker's lease has lapsed (the worker died)
    is taken over (CloneRequests.take_over_abandoned); a READY clone, a PENDING job and a live lease
    are left alone."""
    requests.store.forget_failure(job.caller_key)
    if requests.request(job.caller_key, job.threecx_call_id, now):
        return "clone job queued"
    if requests.take_over_abandoned(job.caller_key, now):
        return "its worker's lease has lapsed; clone job queued again"
    return "a clone is ready or under way"
