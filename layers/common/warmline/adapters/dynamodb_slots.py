"""The voice-slot agents' leases (warmline.agent_slots) in the clone table.

Items:  pk = SLOTS,  sk = SLOT#<nnn>   (one voice-slot agent: agent_id, tool_ids, holder, leased_until_ms,
                                       voice_id, voice_ready; written by `warmline elevenlabs configure`)
All the slots are one partition, read with one Query; every lease write is conditional.
"""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from warmline.agent_slots import Slot

SLOTS_PK = "SLOTS"
_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _sk(number: int) -> str:
    return f"SLOT#{number:03d}"


def _value(value: Any) -> dict[str, Any]:
    return _serializer.serialize(value)


def _slot_from(item: dict[str, Any]) -> Slot:
    values = {name: _deserializer.deserialize(value) for name, value in item.items()}
    return Slot(
        number=int(values["number"]),
        agent_id=str(values["agent_id"]),
        tool_ids=tuple(str(tool_id) for tool_id in values.get("tool_ids") or []),
        holder=str(values.get("holder") or ""),
        leased_until_ms=int(values.get("leased_until_ms") or 0),
        voice_id=str(values.get("voice_id") or ""),
        voice_ready=bool(values.get("voice_ready")),
    )


class DynamoSlotStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def slots(self) -> list[Slot]:
        answer = self._client.query(
            TableName=self._table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": _value(SLOTS_PK)},
            ConsistentRead=True,
        )
        return sorted((_slot_from(item) for item in answer.get("Items", [])), key=lambda slot: slot.number)

    def take(self, number: int, caller_key: str, until_ms: int, now_ms: int) -> bool:
        return self._update(
            number,
            "SET holder = :holder, leased_until_ms = :until",
            "(holder = :free OR leased_until_ms <= :now) AND voice_id = :free",
            {":holder": caller_key, ":until": until_ms, ":free": "", ":now": now_ms},
        )

    def mark_voice(self, number: int, caller_key: str, voice_id: str, *, ready: bool) -> bool:
        return self._update(
            number,
            "SET voice_id = :voice, voice_ready = :ready",
            "holder = :holder",
            {":voice": voice_id, ":ready": ready, ":holder": caller_key},
        )

    def free(self, slot: Slot) -> bool:
        return self._update(
            slot.number,
            "SET holder = :free, leased_until_ms = :zero, voice_id = :free, voice_ready = :no",
            "holder = :holder AND leased_until_ms = :until AND voice_id = :voice",
            {
                ":free": "",
                ":zero": 0,
                ":no": False,
                ":holder": slot.holder,
                ":until": slot.leased_until_ms,
                ":voice": slot.voice_id,
            },
        )

    def save(self, slots: list[Slot]) -> None:
        """The pool as configured: new slots free; a kept slot (same number and agent) keeps its
        lease; slots no longer configured are deleted."""
        kept = {slot.number: slot for slot in self.slots()}
        for slot in slots:
            old = kept.pop(slot.number, None)
            if old is not None and old.agent_id == slot.agent_id:
                self._update(
                    slot.number,
                    "SET tool_ids = :tools",
                    "agent_id = :agent",
                    {
                        ":tools": list(slot.tool_ids),
                        ":agent": slot.agent_id,
                    },
                )
                continue
            item = {
                "pk": SLOTS_PK,
                "sk": _sk(slot.number),
                "number": slot.number,
                "agent_id": slot.agent_id,
                "tool_ids": list(slot.tool_ids),
                "holder": "",
                "leased_until_ms": 0,
                "voice_id": "",
                "voice_ready": False,
            }
            self._client.put_item(TableName=self._table, Item={k: _value(v) for k, v in item.items()})
        for gone in kept.values():
            self._client.delete_item(
                TableName=self._table, Key={"pk": _value(SLOTS_PK), "sk": _value(_sk(gone.number))}
            )

    def _update(self, number: int, expression: str, condition: str, values: dict[str, Any]) -> bool:
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": _value(SLOTS_PK), "sk": _value(_sk(number))},
                UpdateExpression=expression,
                ConditionExpression=f"attribute_exists(pk) AND {condition}",
                ExpressionAttributeValues={name: _value(value) for name, value in values.items()},
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True
