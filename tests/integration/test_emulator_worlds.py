"""The emulator's world switches (emulators/worlds.py) through its control endpoint: named, checked,
reset, and each bad one refused with a 400 that names it."""

from __future__ import annotations

import pytest

from emulators.elevenlabs import Emulator
from emulators.worlds import Worlds
from tests import web


@pytest.fixture(scope="module")
def emulator():
    with Emulator("key") as running:
        yield running


def _config(emulator, body):
    return web.post(f"{emulator.base_url}/_emulator/config", json=body)


def test_a_switch_changes_only_itself_and_reset_restores_the_defaults(emulator):
    answer = _config(emulator, {"worlds": {"refer_answer": 403, "patch_merge": "shallow"}})

    assert answer.status_code == 200
    worlds = answer.json()["worlds"]
    assert worlds == Worlds().describe() | {"refer_answer": 403, "patch_merge": "shallow"}
    web.post(f"{emulator.base_url}/_emulator/reset")
    assert _config(emulator, {}).json()["worlds"] == Worlds().describe()


@pytest.mark.parametrize(
    ("switches", "named"),
    [
        ({"refer": 403}, "unknown world switch 'refer'"),
        ({"refer_answer": 99}, "refer_answer"),
        ({"caller_id_passed": "no"}, "caller_id_passed"),
        ({"patch_merge": "replace"}, "patch_merge takes one of deep, shallow"),
        ({"search_lag_seconds": -1}, "search_lag_seconds"),
        ({"agent_transfer_reads": "never"}, "agent_transfer_reads takes one of transfer, start"),
        ([], "worlds must be a JSON object"),
    ],
)
def test_a_bad_switch_is_refused_with_a_400_naming_it_and_changes_nothing(emulator, switches, named):
    web.post(f"{emulator.base_url}/_emulator/reset")

    answer = _config(emulator, {"worlds": switches})

    assert answer.status_code == 400
    assert named in answer.json()["detail"]
    assert _config(emulator, {}).json()["worlds"] == Worlds().describe()


def test_an_agent_transfer_to_no_such_transfer_or_conversation_is_refused_and_the_call_stays(emulator):
    web.post(f"{emulator.base_url}/_emulator/reset")
    invite = {"from": "sip:+447700900123@pbx.example.com", "to": "sip:+441632960001@sip.rtc.elevenlabs.io"}
    conversation = web.post(f"{emulator.base_url}/_emulator/sip/inbound", json=invite).json()
    url = f"{emulator.base_url}/_emulator/conversations/{conversation['conversation_id']}"

    moved = web.post(f"{url}/agent-transfer", json={"agent_number": 3})
    unknown = web.post(f"{emulator.base_url}/_emulator/conversations/conv_none/agent-transfer", json={})

    assert moved.status_code == 200
    assert (moved.json()["transferred"], moved.json()["result_type"]) == (False, "transfer_to_agent_error")
    assert "no transfer_to_agent tool" in moved.json()["error"]
    assert web.get(url).json()["agent_id"] == conversation["agent_id"]
    assert unknown.status_code == 404 and "conv_none" in unknown.json()["detail"]
