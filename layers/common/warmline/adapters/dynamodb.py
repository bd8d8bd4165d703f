"""The clone table in DynamoDB: caller profiles, clone records and events, one table.

Items:  pk = CALLER#<caller key>, sk = PROFILE | CLONE | PIN
        pk = EVENTS#<UTC day>,    sk = <epoch ms>#<event id>
Times are integer epoch milliseconds (`*_at_ms`), except `expires_at` (epoch seconds: the TTL).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, fields
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from warmline.clone_state import CallerProfile, CallerState, CloneRecord, CloneStatus, PinRecord
from warmline.events import Event, EventType

PROFILE = "PROFILE"
CLONE = "CLONE"
PIN = "PIN"
_serializer = TypeSerializer()
_deserializer = TypeDeserializer()
_CLONE_FIELDS = {f.name for f in fields(CloneRecord)}
_PIN_FIELDS = {f.name for f in fields(PinRecord)}


def caller_pk(caller_key: str) -> str:
    return f"CALLER#{caller_key}"


def events_pk(at_ms: int) -> str:
    return "EVENTS#" + time.strftime("%Y-%m-%d", time.gmtime(at_ms / 1000))


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

    def load(self, caller_key: str) -> CallerState:
        response = self._client.query(
            TableName=self._table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues=_to_item({":pk": caller_pk(caller_key)}),
            ConsistentRead=True,
        )
        profile = clone = pin = None
        for item in response.get("Items", []):
            values = _from_item(item)
            if values["sk"] == PROFILE:
                profile = _profile_from(values)
            elif values["sk"] == CLONE:
                clone = _clone_from(values)
            elif values["sk"] == PIN:
                pin = _pin_from(values)
        return CallerState(profile=profile, clone=clone, pin=pin)

    def get_clone(self, caller_key: str) -> CloneRecord | None:
        response = self._client.get_item(
            TableName=self._table, Key=self._key(caller_key, CLONE), ConsistentRead=True
        )
        item = response.get("Item")
        return _clone_from(_from_item(item)) if item else None

    def start_clone(self, caller_key: str, record: CloneRecord, now: float) -> bool:
        values = {k: v for k, v in asdict(record).items() if v not in ("", None)}
        values["status"] = record.status.value
        values.update(pk=caller_pk(caller_key), sk=CLONE, caller_key=caller_key)
        try:
            self._client.put_item(
                TableName=self._table,
                Item=_to_item(values),
                ConditionExpression="attribute_not_exists(pk) OR expires_at <= :now",
                ExpressionAttributeValues=_to_item({":now": int(now)}),
            )
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

    def confirm_pending(self, caller_key: str, job_id: str, *, expires_at: int) -> None:
        self._update(
            caller_key,
            UpdateExpression="SET expires_at = :until",
            ConditionExpression="job_id = :job AND #s IN (:pending, :cloning) AND expires_at < :until",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues=_to_item(
                {
                    ":until": expires_at,
                    ":job": job_id,
                    ":pending": CloneStatus.PENDING.value,
                    ":cloning": CloneStatus.CLONING.value,
                }
            ),
        )

    def note_call(self, caller_key: str, *, call_started_at_ms: int, threecx_call_id: str) -> None:
        self._update(
            caller_key,
            UpdateExpression="SET call_started_at_ms = :started, threecx_call_id = :call",
            ConditionExpression="#s IN (:pending, :cloning)",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues=_to_item(
                {
                    ":started": call_started_at_ms,
                    ":call": threecx_call_id,
                    ":pending": CloneStatus.PENDING.value,
                    ":cloning": CloneStatus.CLONING.value,
                }
            ),
        )

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

    def mark_ready(
        self,
        caller_key: str,
        *,
        lease_token: str,
        voice_id: str,
        ready_at_ms: int,
        clone_duration_ms: int,
        expires_at: int,
    ) -> bool:
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
                    ":voice": voice_id,
                    ":ready_at": ready_at_ms,
                    ":duration": clone_duration_ms,
                    ":expires": expires_at,
                    ":token": lease_token,
                }
            ),
        )

    def mark_failed(
        self,
        caller_key: str,
        *,
        lease_token: str | None,
        error_code: str,
        error_message: str,
        expires_at: int,
    ) -> bool:
        values = {
            ":failed": CloneStatus.FAILED.value,
            ":code": error_code,
            ":message": error_message,
            ":expires": expires_at,
        }
        if lease_token is None:
            condition = "#s IN (:pending, :cloning)"
            values.update({":pending": CloneStatus.PENDING.value, ":cloning": CloneStatus.CLONING.value})
        else:
            condition = "lease_token = :token AND #s = :cloning"
            values.update({":token": lease_token, ":cloning": CloneStatus.CLONING.value})
        return self._update(
            caller_key,
            UpdateExpression=(
                "SET #s = :failed, error_code = :code, error_message = :message, expires_at = :expires "
                "REMOVE lease_token, lease_expires_at_ms"
            ),
            ConditionExpression=condition,
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues=_to_item(values),
        )

    def mark_handoff(self, caller_key: str, at_ms: int, *, verified: bool = False) -> None:
        self._update(
            caller_key,
            UpdateExpression="SET handoff_at_ms = :at"
            + (", verified_handoff_at_ms = :at" if verified else ""),
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues=_to_item({":at": at_ms}),
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

    def save_profile(self, profile: CallerProfile) -> None:
        values = asdict(profile)
        values["sample_keys"] = list(profile.sample_keys)
        values.update(pk=caller_pk(profile.caller_key), sk=PROFILE)
        self._client.put_item(TableName=self._table, Item=_to_item(values))

    def get_profile(self, caller_key: str) -> CallerProfile | None:
        item = self._client.get_item(
            TableName=self._table, Key=self._key(caller_key, PROFILE), ConsistentRead=True
        ).get("Item")
        return _profile_from(_from_item(item)) if item else None

    def get_pin(self, caller_key: str) -> PinRecord | None:
        item = self._client.get_item(
            TableName=self._table, Key=self._key(caller_key, PIN), ConsistentRead=True
        ).get("Item")
        return _pin_from(_from_item(item)) if item else None

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

    def delete_caller(self, caller_key: str) -> None:
        for sk in (PROFILE, CLONE, PIN):
            self._client.delete_item(TableName=self._table, Key=self._key(caller_key, sk))


class DynamoEventStore:
    def __init__(self, client: Any, table_name: str, ttl_seconds: int) -> None:
        self._client = client
        self._table = table_name
        self._ttl_seconds = ttl_seconds

    def record(self, *events: Event) -> None:
        """Write the events in one request (a batch of up to 25), retrying what DynamoDB leaves out."""
        requests = [{"PutRequest": {"Item": _to_item(self._values(event))}} for event in events]
        for start in range(0, len(requests), 25):
            pending = {self._table: requests[start : start + 25]}
            for attempt in range(5):
                unprocessed = self._client.batch_write_item(RequestItems=pending).get("UnprocessedItems")
                if not unprocessed:
                    break
                pending = unprocessed
                time.sleep(0.05 * 2**attempt)
            else:
                raise RuntimeError(f"DynamoDB left {len(pending[self._table])} event(s) unwritten")

    def _values(self, event: Event) -> dict[str, Any]:
        return {
            "pk": events_pk(event.at_ms),
            "sk": f"{event.at_ms:013d}#{uuid.uuid4().hex}",
            "type": event.type.value,
            "at_ms": event.at_ms,
            "caller_key": event.caller_key,
            "data": event.data,
            "expires_at": event.at_ms // 1000 + self._ttl_seconds,
        }

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
