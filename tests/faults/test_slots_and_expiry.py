"""Voice slots full, and expired clones, end to end on the local stack."""

import time

from emulators.caller import SECRET_HEADER
from tests import web
from warmline.adapters.dynamodb import _to_item, caller_pk


def add_own_voice(stack, name):
    """A voice in the account that warmline did not make (the account owner's own)."""
    response = web.post(
        f"{stack.elevenlabs_base_url}/v1/voices/add",
        headers={"xi-api-key": stack.secrets["ElevenLabsApiKeySecret"]},
        data={"name": name},
        files=[("files", ("own.wav", b"RIFF0000WAVEfmt ", "audio/wav"))],
    )
    assert response.status_code == 200, response.text
    return response.json()["voice_id"]


def test_full_slots_free_warmlines_least_recently_used_voice_and_never_another(
    fault_stack, emulator, register, caller, ledger
):
    """The eviction policy at work on the whole stack (every rule of it, the "in use" window and a
    full account with nothing to delete included, is in tests/unit/test_voice_slots.py)."""
    own = add_own_voice(fault_stack, "the owner's own voice")  # the oldest voice in the account
    emulator.configure(voice_limit=3)
    a, b, c = (register(f"+44207904000{i}") for i in range(3))
    assert caller.call("+442079040000").final_voice == "cloned"
    assert caller.call("+442079040001").final_voice == "cloned"
    voice_b = ledger.record(b).cloned_voice_id
    assert caller.call("+442079040000").final_voice == "cloned"  # caller A uses theirs again

    third = caller.call("+442079040002")

    assert third.final_voice == "cloned"
    ids = {v["voice_id"] for v in emulator.voices()}
    assert own in ids and ledger.record(a).cloned_voice_id in ids and voice_b not in ids
    assert [r["path"] for r in emulator.requests("/v1/voices/") if r["method"] == "DELETE"] == [
        f"/v1/voices/{voice_b}"
    ]
    # B's record was expired before its voice went: B is never handed the deleted voice, and (with
    # a slot to spare now) B's next call clones again.
    emulator.configure(voice_limit=4)
    again = caller.call("+442079040001")
    assert again.final_voice == "cloned" and again.cloned_voice_id != voice_b
    ledger.settle([a, b, c])
    ledger.assert_accounted([a, b, c])
    assert own in {v["voice_id"] for v in emulator.voices()}


def test_an_expired_ready_clone_is_never_handed_out(fault_stack, emulator, register, caller, ledger):
    key = register("+442079050000")
    first = caller.call("+442079050000")
    assert first.final_voice == "cloned"
    ledger.dynamodb.update_item(
        TableName=fault_stack.model.tables["CloneTable"].name,
        Key=_to_item({"pk": caller_pk(key), "sk": "CLONE"}),
        UpdateExpression="SET expires_at = :past",
        ExpressionAttributeValues=_to_item({":past": int(time.time()) - 1}),
    )
    agent = {SECRET_HEADER: fault_stack.secrets["AgentSecret"]}

    init = web.post(
        fault_stack.endpoints["ConversationInit"], json={"caller_id": "+442079050000"}, headers=agent
    ).json()
    check = web.post(
        fault_stack.endpoints["CheckClone"].replace("{caller_id}", "+442079050000"),
        json={"pressed_key": "1"},
        headers=agent,
    ).json()
    webhook = web.post(
        fault_stack.endpoints["IncomingCall"],
        json={"caller": "+442079050000", "call_id": "after-expiry"},
        headers={SECRET_HEADER: fault_stack.secrets["ThreeCxSecret"]},
    ).json()

    assert first.cloned_voice_id not in str(init)
    assert init["dynamic_variables"]["warmline_mode"] != "cloned"
    assert check["status"] == "unavailable" and check["cloned_voice_id"] is None
    assert webhook["voice"] == "greeting" and webhook["job_queued"] is True
    (record,) = ledger.settle([key])
    assert record.cloned_voice_id != first.cloned_voice_id
    ledger.assert_accounted([key])  # the expired clone's voice was deleted with the new clone
