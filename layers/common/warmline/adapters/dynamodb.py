"""The clone table in DynamoDB: caller profiles, clone records, recent calls and events, one table.

Items:  pk = CALLER#<caller key>,    sk = PROFILE | CLONE | PIN | LAST_CALL
        pk = CALLER#<caller key>,    sk = CONSENT#<epoch ms>#<event>   (the consent log: no TTL,
                                      only ever added to)
        pk = DIALLED#<number key>,   sk = <epoch ms>#<id>      (a recent incoming call to that number)
        pk = EVENTS#<UTC day>,       sk = <epoch ms>#<event id>
        pk = HANDOFF#<caller key>,   sk = CALL#<call id>   (a call's handoff, claimed once)
        pk = HANDOFFS#<UTC day>,     sk = <epoch ms>#<caller key>#<call id>   (a handoff still
                                      expected: deleted when it completes or is counted as lost)
        pk = AGENT#<agent id>,       sk = VARIABLES   (the agent's own dynamic variables and their
                                      defaults, as `warmline elevenlabs configure` last read them)
Times are integer epoch milliseconds (`*_at_ms`), except `expires_at` (epoch seconds: the TTL).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, fields
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from warmline.adapters.deadline import Deadline, DeadlineExceeded
from warmline.clone_state import (
    CallerProfile,
    CallerState,
    CallFollowed,
    CallWrites,
    CloneRecord,
    CloneStatus,
    FirstClone,
    Handoff,
    HandoffKey,
    IncomingNote,
    JobClaim,
    PendingConfirm,
    PinRecord,
    ReadyClone,
)
from warmline.consent import ConsentEntry, ConsentEvent, ConsentSource
from warmline.events import Event, EventType

PROFILE = "PROFILE"
CLONE = "CLONE"
LAST_CALL = "LAST_CALL"
PIN = "PIN"
CONSENT_PREFIX = "CONSENT#"
_serializer = TypeSerializer()
_deserializer = TypeDeserializer()
_CLONE_FIELDS = {f.name for f in fields(CloneRecord)}
_PIN_FIELDS = {f.name for f in fields(PinRecord)}
_HANDOFF_FIELDS = {f.name for f in fields(Handoff)}
# How long a handoff's items stay: the claim must outlive every check of its call, and the sweep
# reads the expected ones of the day and the day before.
HANDOFF_TTL_SECONDS = 2 * 86_400
_TRANSACTION_TRIES = 3
_FIXED_ITEMS = (PROFILE, CLONE, PIN, LAST_CALL)  # a caller's items besides the consent log
_BATCH_GET_TRIES = 5


def caller_pk(caller_key: str) -> str:
    return f"CALLER#{caller_key}"


def dialled_pk(dialled_key: str) -> str:
    return f"DIALLED#{dialled_key}"


def _utc_day(at_ms: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(at_ms / 1000))


def events_pk(at_ms: int) -> str:
    return "EVENTS#" + _utc_day(at_ms)


def _event_values(event: Event, ttl_seconds: int) -> dict[str, Any]:
    return {
        "pk": events_pk(event.at_ms),
        "sk": f"{event.at_ms:013d}#{uuid.uuid4().hex}",
        "type": event.type.value,
        "at_ms": event.at_ms,
        "caller_key": event.caller_key,
        "data": event.data,
        "expires_at": event.at_ms // 1000 + ttl_seconds,
    }


def _to_item(values: dict[str, Any]) -> dict[str, Any]:
    return {name: _serializer.serialize(value) for name, value in values.items()}


def _from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {name: _plain(_deserializer.deserialize(value)) for name, value in item.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (set, list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _batch_put(
    client: Any, table: str, items: list[dict[str, Any]], deadline: Deadline | None = None
) -> None:
    """Put the items in as few requests as DynamoDB allows (25 each), retrying what it leaves out.
    A pause between retries that would end past `deadline` is not slept: DeadlineExceeded now."""
    requests = [{"PutRequest": {"Item": _to_item(values)}} for values in items]
    for start in range(0, len(requests), 25):
        pending = {table: requests[start : start + 25]}
        for attempt in range(5):
            unprocessed = client.batch_write_item(RequestItems=pending).get("UnprocessedItems")
            if not unprocessed:
                break
            pending = unprocessed
            _pause(0.05 * 2**attempt, deadline)
        else:
            raise RuntimeError(f"DynamoDB left {len(pending[table])} item(s) unwritten")


def _pause(seconds: float, deadline: Deadline | None) -> None:
    left = deadline.remaining() if deadline is not None else None
    if left is not None and left < seconds:
        raise DeadlineExceeded("no time left to retry the items DynamoDB left unwritten")
    time.sleep(seconds)


def _note_from(values: dict[str, Any]) -> IncomingNote:
    return IncomingNote(
        caller_key=values.get("caller_key", ""),
        dialled_key=values.get("dialled_key", ""),
        threecx_call_id=values.get("threecx_call_id", ""),
        at_ms=values["at_ms"],
    )


def _is_condition_failure(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def _clone_from(values: dict[str, Any]) -> CloneRecord:
    data = {k: v for k, v in values.items() if k in _CLONE_FIELDS}
    data["status"] = CloneStatus(data["status"])
    return CloneRecord(**data)


def _pin_from(values: dict[str, Any]) -> PinRecord:
    return PinRecord(**{k: v for k, v in values.items() if k in _PIN_FIELDS})


def _profile_from(values: dict[str, Any]) -> CallerProfile:
    return CallerProfile(
        caller_key=values["caller_key"],
        sample_keys=tuple(values.get("sample_keys", ())),
        consent=values.get("consent", ""),
        masked_number=values.get("masked_number", ""),
        created_at_ms=values.get("created_at_ms", 0),
    )


def _consent_from(values: dict[str, Any]) -> ConsentEntry:
    return ConsentEntry(
        caller_key=values["caller_key"],
        event=ConsentEvent(values["event"]),
        at_ms=values["at_ms"],
        by=values.get("by", ""),
        source=ConsentSource(values["source"]),
        consent=values.get("consent", ""),
    )


def _consent_item(entry: ConsentEntry) -> dict[str, Any]:
    values = asdict(entry)
    values.update(event=entry.event.value, source=entry.source.value)
    values.update(
        pk=caller_pk(entry.caller_key), sk=f"{CONSENT_PREFIX}{entry.at_ms:013d}#{entry.event.value}"
    )
    return _to_item(values)


def _profile_item(profile: CallerProfile) -> dict[str, Any]:
    values = asdict(profile)
    values["sample_keys"] = list(profile.sample_keys)
    values.update(pk=caller_pk(profile.caller_key), sk=PROFILE)
    return _to_item(values)


def _note_values(call: IncomingNote, expires_at: int) -> list[dict[str, Any]]:
    """The items of an incoming call's notes: the caller's LAST_CALL and the dialled number's entry,
    each when known."""
    values = {"at_ms": call.at_ms, "threecx_call_id": call.threecx_call_id, "expires_at": expires_at}
    items = []
    if call.caller_key:
        items.append(
            {**values, "pk": caller_pk(call.caller_key), "sk": LAST_CALL, "dialled_key": call.dialled_key}
        )
    if call.dialled_key:
        sk = f"{call.at_ms:013d}#{uuid.uuid4().hex}"
        items.append({**values, "pk": dialled_pk(call.dialled_key), "sk": sk, "caller_key": call.caller_key})
    return items


def _start_clone_put(table: str, caller_key: str, record: CloneRecord, now: float) -> dict[str, Any]:
    """The conditional put of a new clone record: only over none, or one that has expired."""
    values = {k: v for k, v in asdict(record).items() if v not in ("", None)}
    values["status"] = record.status.value
    values.update(pk=caller_pk(caller_key), sk=CLONE, caller_key=caller_key)
    return {
        "TableName": table,
        "Item": _to_item(values),
        # Expired means expires_at <= now, as CloneRecord.is_live has it (expires_at is whole
        # seconds): a record is replaceable from the second it stops counting.
        "ConditionExpression": "attribute_not_exists(pk) OR expires_at <= :now",
        "ExpressionAttributeValues": _to_item({":now": int(now)}),
    }


_IN_FLIGHT_VALUES = {":pending": CloneStatus.PENDING.value, ":cloning": CloneStatus.CLONING.value}


def _confirm_update(confirm: PendingConfirm) -> dict[str, Any]:
    return {
        "UpdateExpression": "SET expires_at = :until",
        "ConditionExpression": "job_id = :job AND #s IN (:pending, :cloning) AND expires_at < :until",
        "ExpressionAttributeNames": {"#s": "status"},
        "ExpressionAttributeValues": _to_item(
            {":until": confirm.expires_at, ":job": confirm.job_id, **_IN_FLIGHT_VALUES}
        ),
    }


def _follow_update(followed: CallFollowed) -> dict[str, Any]:
    return {
        "UpdateExpression": "SET call_started_at_ms = :started, threecx_call_id = :call",
        "ConditionExpression": "#s IN (:pending, :cloning)",
        "ExpressionAttributeNames": {"#s": "status"},
        "ExpressionAttributeValues": _to_item(
            {":started": followed.call_started_at_ms, ":call": followed.threecx_call_id, **_IN_FLIGHT_VALUES}
        ),
    }


def _cancellation_codes(error: ClientError) -> list[str] | None:
    """Each item's reason of a cancelled transaction ("None" for an item that passed); None for
    another error."""
    if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return None
    return [reason.get("Code", "None") for reason in error.response.get("CancellationReasons", [])]


class DynamoCloneStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def _key(self, caller_key: str, sk: str) -> dict[str, Any]:
        return _to_item({"pk": caller_pk(caller_key), "sk": sk})

    def _update(self, caller_key: str, sk: str = CLONE, **kwargs: Any) -> bool:
        try:
            self._client.update_item(TableName=self._table, Key=self._key(caller_key, sk), **kwargs)
        except ClientError as error:
            if _is_condition_failure(error):
                return False
            raise
        return True

    def load(self, caller_key: str, *, with_consent_log: bool = False) -> CallerState:
        """The caller's fixed items by key, in one strongly consistent BatchGetItem: never a page of
        the caller's partition, which their consent log (only ever added to) could fill before PIN
        and PROFILE. `with_consent_log` (the sweep, not a call) also asks whether the log has an entry."""
        items = {values["sk"]: values for values in self._fixed_items(caller_key)}
        last_call = items.get(LAST_CALL)
        return CallerState(
            profile=_profile_from(items[PROFILE]) if PROFILE in items else None,
            clone=_clone_from(items[CLONE]) if CLONE in items else None,
            pin=_pin_from(items[PIN]) if PIN in items else None,
            last_call=_note_from({**last_call, "caller_key": caller_key}) if last_call else None,
            has_consent_log=with_consent_log and self._has_consent_log(caller_key),
        )

    def _fixed_items(self, caller_key: str) -> list[dict[str, Any]]:
        """PROFILE, CLONE, PIN and LAST_CALL (those that exist), retrying the keys DynamoDB leaves
        unprocessed (it may, when throttled)."""
        request = {
            self._table: {"Keys": [self._key(caller_key, sk) for sk in _FIXED_ITEMS], "ConsistentRead": True}
        }
        found: list[dict[str, Any]] = []
        for attempt in range(_BATCH_GET_TRIES):
            response = self._client.batch_get_item(RequestItems=request)
            found += [_from_item(item) for item in response.get("Responses", {}).get(self._table, [])]
            request = response.get("UnprocessedKeys") or {}
            if not request:
                return found
            time.sleep(0.01 * attempt)
        raise RuntimeError(f"DynamoDB left the caller's items unread after {_BATCH_GET_TRIES} tries")

    def _has_consent_log(self, caller_key: str) -> bool:
        response = self._client.query(
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :consent)",
            ExpressionAttributeValues=_to_item({":pk": caller_pk(caller_key), ":consent": CONSENT_PREFIX}),
            ProjectionExpression="sk",
            Limit=1,
            ConsistentRead=True,
        )
        return bool(response.get("Items"))

    def get_clone(self, caller_key: str) -> CloneRecord | None:
        response = self._client.get_item(
            TableName=self._table, Key=self._key(caller_key, CLONE), ConsistentRead=True
        )
        item = response.get("Item")
        return _clone_from(_from_item(item)) if item else None

    def start_clone(self, caller_key: str, record: CloneRecord, now: float) -> bool:
        try:
            self._client.put_item(**_start_clone_put(self._table, caller_key, record, now))
        except ClientError as error:
            if _is_condition_failure(error):
                return False
            raise
        return True

    def remove_pending(self, caller_key: str, job_id: str) -> None:
        try:
            self._client.delete_item(
                TableName=self._table,
                Key=self._key(caller_key, CLONE),
                ConditionExpression="job_id = :job AND #s = :pending",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=_to_item({":job": job_id, ":pending": CloneStatus.PENDING.value}),
            )
        except ClientError as error:
            if not _is_condition_failure(error):
                raise

    def forget_failure(self, caller_key: str) -> None:
        """Delete a FAILED clone record before it expires, so a new job may start; any other stays."""
        try:
            self._client.delete_item(
                TableName=self._table,
                Key=self._key(caller_key, CLONE),
                ConditionExpression="#s = :failed",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=_to_item({":failed": CloneStatus.FAILED.value}),
            )
        except ClientError as error:
            if not _is_condition_failure(error):
                raise

    def confirm_pending(self, caller_key: str, job_id: str, *, expires_at: int) -> None:
        self._update(caller_key, **_confirm_update(PendingConfirm(job_id, expires_at)))

    def note_call(self, caller_key: str, *, call_started_at_ms: int, threecx_call_id: str) -> None:
        self._update(caller_key, **_follow_update(CallFollowed(call_started_at_ms, threecx_call_id)))

    def take_lease(
        self, caller_key: str, *, lease_token: str, now_ms: int, lease_expires_at_ms: int
    ) -> CloneRecord | None:
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key=self._key(caller_key, CLONE),
                UpdateExpression=(
                    "SET #s = :cloning, lease_token = :token, lease_expires_at_ms = :until, "
                    "started_at_ms = :now, attempts = if_not_exists(attempts, :zero) + :one"
                ),
                ConditionExpression=(
                    "expires_at > :now_s AND "
                    "(#s = :pending OR (#s = :cloning AND lease_expires_at_ms < :now))"
                ),
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=_to_item(
                    {
                        ":cloning": CloneStatus.CLONING.value,
                        ":pending": CloneStatus.PENDING.value,
                        ":token": lease_token,
                        ":until": lease_expires_at_ms,
                        ":now": now_ms,
                        ":now_s": now_ms // 1000,
                        ":zero": 0,
                        ":one": 1,
                    }
                ),
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if _is_condition_failure(error):
                return None
            raise
        return _clone_from(_from_item(response["Attributes"]))

    def release_lease(self, caller_key: str, lease_token: str) -> None:
        self._update(
            caller_key,
            UpdateExpression="SET #s = :pending REMOVE lease_token, lease_expires_at_ms",
            ConditionExpression="lease_token = :token AND #s = :cloning",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues=_to_item(
                {
                    ":pending": CloneStatus.PENDING.value,
                    ":cloning": CloneStatus.CLONING.value,
                    ":token": lease_token,
                }
            ),
        )

    def mark_ready(self, caller_key: str, *, lease_token: str, clone: ReadyClone) -> bool:
        return self._update(
            caller_key,
            UpdateExpression=(
                "SET #s = :ready, cloned_voice_id = :voice, ready_at_ms = :ready_at, "
                "clone_duration_ms = :duration, expires_at = :expires REMOVE lease_token, lease_expires_at_ms"
            ),
            ConditionExpression="lease_token = :token AND #s = :cloning",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues=_to_item(
                {
                    ":ready": CloneStatus.READY.value,
                    ":cloning": CloneStatus.CLONING.value,
                    ":voice": clone.voice_id,
                    ":ready_at": clone.ready_at_ms,
                    ":duration": clone.clone_duration_ms,
                    ":expires": clone.expires_at,
                    ":token": lease_token,
                }
            ),
        )

    def mark_failed(
        self,
        caller_key: str,
        *,
        lease_token: str,
        error_code: str,
        error_message: str,
        expires_at: int,
    ) -> bool:
        values: dict[str, Any] = {":token": lease_token, ":cloning": CloneStatus.CLONING.value}
        values.update({":code": error_code, ":message": error_message, ":expires": expires_at})
        return self._fail(caller_key, "lease_token = :token AND #s = :cloning", values)

    def fail_job(
        self, caller_key: str, claim: JobClaim, *, error_code: str, error_message: str, expires_at: int
    ) -> bool:
        condition = (
            "job_id = :job AND (#s = :pending OR "
            "(#s = :cloning AND (lease_token = :token OR lease_expires_at_ms < :now)))"
        )
        values: dict[str, Any] = {
            ":job": claim.job_id,
            ":token": claim.lease_token,
            ":now": claim.now_ms,
            ":pending": CloneStatus.PENDING.value,
            ":cloning": CloneStatus.CLONING.value,
        }
        values.update({":code": error_code, ":message": error_message, ":expires": expires_at})
        return self._fail(caller_key, condition, values)

    def _fail(self, caller_key: str, condition: str, values: dict[str, Any]) -> bool:
        return self._update(
            caller_key,
            UpdateExpression=(
                "SET #s = :failed, error_code = :code, error_message = :message, expires_at = :expires "
                "REMOVE lease_token, lease_expires_at_ms"
            ),
            ConditionExpression=condition,
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues=_to_item({**values, ":failed": CloneStatus.FAILED.value}),
        )

    def claim_verified_handoff(self, caller_key: str, voice_id: str, *, since_ms: int, at_ms: int) -> bool:
        return self._update(
            caller_key,
            UpdateExpression="SET last_used_at_ms = :at REMOVE verified_handoff_at_ms",
            ConditionExpression=(
                "cloned_voice_id = :voice AND #s = :ready "
                "AND verified_handoff_at_ms >= :since AND verified_handoff_at_ms > :none"
            ),
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues=_to_item(
                {
                    ":at": at_ms,
                    ":voice": voice_id,
                    ":ready": CloneStatus.READY.value,
                    ":since": since_ms,
                    ":none": 0,  # a new record is written with 0: no mark
                }
            ),
        )

    def touch_clone(self, caller_key: str, voice_id: str, at_ms: int) -> None:
        self._update(
            caller_key,
            UpdateExpression="SET last_used_at_ms = :at",
            ConditionExpression="cloned_voice_id = :voice AND #s = :ready",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues=_to_item(
                {":at": at_ms, ":voice": voice_id, ":ready": CloneStatus.READY.value}
            ),
        )

    def expire_clone(self, caller_key: str, voice_id: str, now: float) -> bool:
        return self._update(
            caller_key,
            UpdateExpression="SET expires_at = :past",
            ConditionExpression="cloned_voice_id = :voice AND #s = :ready",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues=_to_item(
                {":past": int(now) - 1, ":voice": voice_id, ":ready": CloneStatus.READY.value}
            ),
        )

    def get_pin(self, caller_key: str) -> PinRecord | None:
        item = self._client.get_item(
            TableName=self._table, Key=self._key(caller_key, PIN), ConsistentRead=True
        ).get("Item")
        return _pin_from(_from_item(item)) if item else None

    def replace_pin(self, caller_key: str, expected: PinRecord, new: PinRecord) -> bool:
        return self._update(
            caller_key,
            PIN,
            UpdateExpression="SET attempts = :a, lockouts = :l, locked_until_ms = :u",
            ConditionExpression=(
                "pin_hash = :hash AND attempts = :was_a AND lockouts = :was_l AND locked_until_ms = :was_u"
            ),
            ExpressionAttributeValues=_to_item(
                {
                    ":a": new.attempts,
                    ":l": new.lockouts,
                    ":u": new.locked_until_ms,
                    ":hash": expected.pin_hash,
                    ":was_a": expected.attempts,
                    ":was_l": expected.lockouts,
                    ":was_u": expected.locked_until_ms,
                }
            ),
        )


class DynamoRegistryStore:
    """The caller registry's items (warmline.ports.RegistryStore): PROFILE, PIN and the consent log,
    and the REMOVED marker a withdrawal leaves as the clone record."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def _key(self, caller_key: str, sk: str) -> dict[str, Any]:
        return _to_item({"pk": caller_pk(caller_key), "sk": sk})

    def _get(self, caller_key: str, sk: str) -> dict[str, Any] | None:
        item = self._client.get_item(
            TableName=self._table, Key=self._key(caller_key, sk), ConsistentRead=True
        ).get("Item")
        return _from_item(item) if item else None

    def get_pin(self, caller_key: str) -> PinRecord | None:
        values = self._get(caller_key, PIN)
        return _pin_from(values) if values else None

    def profiles(self) -> list[CallerProfile]:
        pages = self._client.get_paginator("scan").paginate(
            TableName=self._table,
            FilterExpression="sk = :profile",
            ExpressionAttributeValues=_to_item({":profile": PROFILE}),
        )
        found = [_profile_from(_from_item(item)) for page in pages for item in page.get("Items", [])]
        return sorted(found, key=lambda profile: profile.created_at_ms)

    def holder_keys(self) -> list[str]:
        pages = self._client.get_paginator("scan").paginate(
            TableName=self._table,
            FilterExpression="sk = :profile OR (sk = :clone AND #status <> :removed)",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=_to_item(
                {":profile": PROFILE, ":clone": CLONE, ":removed": CloneStatus.REMOVED.value}
            ),
            ProjectionExpression="caller_key",
        )
        keys = {item["caller_key"]["S"] for page in pages for item in page.get("Items", [])}
        return sorted(keys)

    def save_profile(self, profile: CallerProfile) -> None:
        """A profile without its consent entry: for harnesses that seed a table (`register` records both)."""
        self._client.put_item(TableName=self._table, Item=_profile_item(profile))

    def register(self, profile: CallerProfile, consent: ConsentEntry) -> None:
        """The profile and its consent entry, both or neither."""
        self._client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": self._table, "Item": _profile_item(profile)}},
                self._append(consent),
            ]
        )

    def withdraw(self, caller_key: str, withdrawal: ConsentEntry) -> None:
        """In one transaction: append the withdrawal, delete the profile and the PIN, and replace
        the clone record with the REMOVED marker (expired from the start, so it counts as no record)."""
        marker = {
            "pk": caller_pk(caller_key),
            "sk": CLONE,
            "caller_key": caller_key,
            "status": CloneStatus.REMOVED.value,
            "job_id": "",
            "requested_at_ms": 0,
            "removed_at_ms": withdrawal.at_ms,
            "expires_at": withdrawal.at_ms // 1000,
        }
        self._client.transact_write_items(
            TransactItems=[
                self._append(withdrawal),
                {"Delete": {"TableName": self._table, "Key": self._key(caller_key, PROFILE)}},
                {"Delete": {"TableName": self._table, "Key": self._key(caller_key, PIN)}},
                {"Delete": {"TableName": self._table, "Key": self._key(caller_key, LAST_CALL)}},
                {"Put": {"TableName": self._table, "Item": _to_item(marker)}},
            ]
        )

    def _append(self, entry: ConsentEntry) -> dict[str, Any]:
        # The log is only ever added to: an entry never overwrites another.
        return {
            "Put": {
                "TableName": self._table,
                "Item": _consent_item(entry),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }

    def consent_log(self, caller_key: str) -> list[ConsentEntry]:
        """One caller's consent entries, oldest first."""
        pages = self._client.get_paginator("query").paginate(
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :consent)",
            ExpressionAttributeValues=_to_item({":pk": caller_pk(caller_key), ":consent": CONSENT_PREFIX}),
            ConsistentRead=True,
        )
        return [_consent_from(_from_item(item)) for page in pages for item in page.get("Items", [])]

    def every_consent_entry(self, on_page: Callable[[int], None] | None = None) -> list[ConsentEntry]:
        """Every caller's consent entries, oldest first. A scan of the whole table: for operators.
        `on_page(items_scanned)` is called after each page."""
        entries, scanned = [], 0
        pages = self._client.get_paginator("scan").paginate(
            TableName=self._table,
            FilterExpression="begins_with(sk, :consent)",
            ExpressionAttributeValues=_to_item({":consent": CONSENT_PREFIX}),
        )
        for page in pages:
            scanned += page.get("ScannedCount", 0)
            entries += [_consent_from(_from_item(item)) for item in page.get("Items", [])]
            if on_page is not None:
                on_page(scanned)
        return sorted(entries, key=lambda entry: (entry.at_ms, entry.caller_key))

    def get_profile(self, caller_key: str) -> CallerProfile | None:
        values = self._get(caller_key, PROFILE)
        return _profile_from(values) if values else None

    def save_pin(self, caller_key: str, record: PinRecord) -> None:
        """A new PIN (or the same one with its attempts and lock cleared)."""
        values = {**asdict(record), "pk": caller_pk(caller_key), "sk": PIN, "caller_key": caller_key}
        self._client.put_item(TableName=self._table, Item=_to_item(values))

    def delete_pin(self, caller_key: str) -> bool:
        """True if the caller had a PIN."""
        response = self._client.delete_item(
            TableName=self._table, Key=self._key(caller_key, PIN), ReturnValues="ALL_OLD"
        )
        return "Attributes" in response


class DynamoCallLog:
    def __init__(self, client: Any, table_name: str, deadline: Deadline | None = None) -> None:
        self._client = client
        self._table = table_name
        self._deadline = deadline  # the invocation's, for the pauses between batch retries

    def note(self, call: IncomingNote, expires_at: int) -> None:
        """One request: the caller's LAST_CALL and the dialled number's entry, each when known."""
        _batch_put(self._client, self._table, _note_values(call, expires_at), self._deadline)

    def calls_to(self, dialled_key: str, since_ms: int) -> list[IncomingNote]:
        response = self._client.query(
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND sk >= :since",
            ExpressionAttributeValues=_to_item(
                {":pk": dialled_pk(dialled_key), ":since": f"{since_ms:013d}"}
            ),
            ConsistentRead=True,
        )
        notes = [_from_item(item) for item in response.get("Items", [])]
        return [_note_from({**values, "dialled_key": dialled_key}) for values in notes]


class DynamoCallRecords:
    """An incoming call's writes (`CallRecords`): a first clone, its notes and its event in as few
    requests as their conditions allow."""

    def __init__(
        self, client: Any, table_name: str, event_ttl_seconds: int, deadline: Deadline | None = None
    ) -> None:
        self._client = client
        self._table = table_name
        self._event_ttl_seconds = event_ttl_seconds
        self._deadline = deadline  # the invocation's, for the pauses between batch retries

    def start_first_clone(
        self, caller_key: str, record: CloneRecord, note: IncomingNote, *, note_expires_at: int, now: float
    ) -> FirstClone:
        key = {"pk": caller_pk(caller_key)}
        items = [
            self._check({**key, "sk": PROFILE}, "attribute_exists(pk)"),
            self._check({**key, "sk": PIN}, "attribute_not_exists(pk)"),
            {"Put": _start_clone_put(self._table, caller_key, record, now)},
            *self._puts(_note_values(note, note_expires_at)),
        ]
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as error:
            codes = _cancellation_codes(error)
            if codes is None:
                raise
            # Only the profile missing: a caller without a voice sample, told apart without a read.
            return (
                FirstClone.NO_SAMPLE
                if codes[:3] == ["ConditionalCheckFailed", "None", "None"]
                else (FirstClone.OTHER)
            )
        return FirstClone.STARTED

    def record(self, writes: CallWrites) -> None:
        puts = _note_values(writes.note, writes.note_expires_at) if writes.note is not None else []
        if writes.event is not None:
            puts.append(_event_values(writes.event, self._event_ttl_seconds))
        update = None
        if writes.confirm is not None:
            update = _confirm_update(writes.confirm)
        elif writes.followed is not None:
            update = _follow_update(writes.followed)
        if update is not None and self._update_with(writes.caller_key, update, puts):
            return
        if puts:
            _batch_put(self._client, self._table, puts, self._deadline)

    def _update_with(self, caller_key: str, update: dict[str, Any], puts: list[dict[str, Any]]) -> bool:
        """The clone record's update and the puts in one transaction; False (nothing written) when
        it was cancelled."""
        key = _to_item({"pk": caller_pk(caller_key), "sk": CLONE})
        items = [{"Update": {"TableName": self._table, "Key": key, **update}}, *self._puts(puts)]
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as error:
            if _cancellation_codes(error) is None:
                raise
            return False  # the record moved on, or a write raced this one: the puts alone
        return True

    def _check(self, key: dict[str, Any], condition: str) -> dict[str, Any]:
        return {
            "ConditionCheck": {
                "TableName": self._table,
                "Key": _to_item(key),
                "ConditionExpression": condition,
            }
        }

    def _puts(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{"Put": {"TableName": self._table, "Item": _to_item(values)}} for values in items]


class DynamoEventStore:
    def __init__(
        self, client: Any, table_name: str, ttl_seconds: int, deadline: Deadline | None = None
    ) -> None:
        self._client = client
        self._table = table_name
        self._ttl_seconds = ttl_seconds
        self._deadline = deadline  # the invocation's, for the pauses between batch retries

    def record(self, *events: Event) -> None:
        """Write the events in one request (a batch of up to 25), retrying what DynamoDB leaves out."""
        values = [_event_values(event, self._ttl_seconds) for event in events]
        _batch_put(self._client, self._table, values, self._deadline)

    def between(self, start_ms: int, end_ms: int) -> list[Event]:
        """Events with start_ms <= at_ms < end_ms, oldest first."""
        found: list[Event] = []
        day_ms = 86_400_000
        for day_start in range(start_ms - start_ms % day_ms, end_ms, day_ms):
            paginator = self._client.get_paginator("query")
            pages = paginator.paginate(
                TableName=self._table,
                KeyConditionExpression="pk = :pk AND sk BETWEEN :low AND :high",
                ExpressionAttributeValues=_to_item(
                    {":pk": events_pk(day_start), ":low": f"{start_ms:013d}", ":high": f"{end_ms - 1:013d}#~"}
                ),
            )
            for page in pages:
                for item in page.get("Items", []):
                    values = _from_item(item)
                    found.append(
                        Event(
                            EventType(values["type"]), values["at_ms"], values["caller_key"], values["data"]
                        )
                    )
        return found


def _expected_key(key: HandoffKey) -> dict[str, Any]:
    return _to_item(
        {"pk": "HANDOFFS#" + _utc_day(key.at_ms), "sk": f"{key.at_ms:013d}#{key.caller_key}#{key.call_id}"}
    )


def _handoff_from(values: dict[str, Any]) -> Handoff:
    return Handoff(**{k: v for k, v in values.items() if k in _HANDOFF_FIELDS})


class DynamoHandoffStore:
    """Handoffs claimed once per call, and the ones still expected (warmline.handoffs). Every write
    that changes what is expected is one transaction with the event that says so."""

    def __init__(self, client: Any, table_name: str, event_ttl_seconds: int) -> None:
        self._client = client
        self._table = table_name
        self._event_ttl_seconds = event_ttl_seconds

    def expect(self, handoff: Handoff, event: Event) -> bool:
        values = {**asdict(handoff), "expires_at": handoff.at_ms // 1000 + HANDOFF_TTL_SECONDS}
        claim = {**values, "pk": f"HANDOFF#{handoff.caller_key}", "sk": f"CALL#{handoff.call_id}"}
        mark = "SET handoff_at_ms = :at, handoff_call_id = :call" + (
            ", verified_handoff_at_ms = :at" if handoff.verified else ""
        )
        return self._transact(
            {
                "Put": {
                    "TableName": self._table,
                    "Item": _to_item(claim),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {"Put": {"TableName": self._table, "Item": {**_to_item(values), **_expected_key(handoff.key)}}},
            {
                "Update": {
                    "TableName": self._table,
                    "Key": _to_item({"pk": caller_pk(handoff.caller_key), "sk": CLONE}),
                    "UpdateExpression": mark,
                    "ConditionExpression": "attribute_exists(pk)",
                    "ExpressionAttributeValues": _to_item({":at": handoff.at_ms, ":call": handoff.call_id}),
                }
            },
            self._put_event(event),
        )

    def settle(self, key: HandoffKey, event: Event, *also: Event) -> bool:
        return self._transact(
            {
                "Delete": {
                    "TableName": self._table,
                    "Key": _expected_key(key),
                    "ConditionExpression": "attribute_exists(pk)",
                }
            },
            *(self._put_event(each) for each in (event, *also)),
        )

    def overdue(self, before_ms: int, limit: int) -> list[Handoff]:
        found: list[Handoff] = []
        for day_ms in (before_ms - 86_400_000, before_ms):
            if len(found) >= limit:
                break
            response = self._client.query(
                TableName=self._table,
                KeyConditionExpression="pk = :pk AND sk < :before",
                ExpressionAttributeValues=_to_item(
                    {":pk": "HANDOFFS#" + _utc_day(day_ms), ":before": f"{before_ms:013d}"}
                ),
                Limit=limit - len(found),
            )
            found += [_handoff_from(_from_item(item)) for item in response.get("Items", [])]
        return found

    def _put_event(self, event: Event) -> dict[str, Any]:
        return {
            "Put": {"TableName": self._table, "Item": _to_item(_event_values(event, self._event_ttl_seconds))}
        }

    def _transact(self, *items: dict[str, Any]) -> bool:
        """Write the items all or none; False when a condition failed. A conflict with another
        transaction on the same item is tried again (it settles which of the two applies)."""
        for attempt in range(_TRANSACTION_TRIES):
            try:
                self._client.transact_write_items(TransactItems=list(items))
                return True
            except ClientError as error:
                reasons = {reason.get("Code") for reason in error.response.get("CancellationReasons", [])}
                if "ConditionalCheckFailed" in reasons:
                    return False
                if "TransactionConflict" not in reasons or attempt == _TRANSACTION_TRIES - 1:
                    raise
                time.sleep(0.02 * (attempt + 1))
        return False


AGENT_VARIABLES = "VARIABLES"


class DynamoAgentVariables:
    """The dynamic variables an agent declares, with their defaults (`AgentVariables`)."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def defaults(self, agent_id: str) -> dict[str, str] | None:
        """None: nothing recorded for this agent."""
        # A Query, not a GetItem: the webhook's role reads the table by Query only.
        items = self._client.query(
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND sk = :sk",
            ExpressionAttributeValues=_to_item({":pk": f"AGENT#{agent_id}", ":sk": AGENT_VARIABLES}),
        ).get("Items", [])
        if not items:
            return None
        variables = _from_item(items[0]).get("variables") or {}
        return {str(name): str(value) for name, value in variables.items()}

    def record(self, agent_id: str, variables: dict[str, str], at_ms: int) -> None:
        values = {
            "pk": f"AGENT#{agent_id}",
            "sk": AGENT_VARIABLES,
            "variables": variables,
            "recorded_at_ms": at_ms,
        }
        self._client.put_item(TableName=self._table, Item=_to_item(values))
