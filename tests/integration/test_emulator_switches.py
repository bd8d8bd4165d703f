"""The emulator's switches for behaviours ElevenLabs does not document (docs/local-stack.md): set by
POST /_emulator/config, checked, and put back by a reset."""

import pytest

from emulators.elevenlabs import CloneLatency, Emulator
from tests import web

SWITCHES = {
    "clones_need_verification": True,
    "voice_search": "words",
    "lenient_dynamic_variables": True,
    "simulated_refer_succeeds": True,
}


@pytest.fixture
def emulator():
    with Emulator("key", clone_latency=CloneLatency.instant()) as running:
        yield running


def _switches(answer):
    """The switches as the control endpoint answers them (clones_need_verification is a world)."""
    return {name: answer.get(name, answer["worlds"].get(name)) for name in SWITCHES}


def test_each_switch_is_set_by_the_control_endpoint_and_reset(emulator):
    answer = web.post(f"{emulator.base_url}/_emulator/config", json=SWITCHES).json()
    assert _switches(answer) == SWITCHES

    web.post(f"{emulator.base_url}/_emulator/reset").raise_for_status()

    answer = web.post(f"{emulator.base_url}/_emulator/config", json={}).json()
    assert _switches(answer) == {
        "clones_need_verification": False,
        "voice_search": "substring",
        "lenient_dynamic_variables": False,
        "simulated_refer_succeeds": False,
    }


@pytest.mark.parametrize("payload", [{"voice_search": "fuzzy"}, {"clones_need_verification": "yes"}])
def test_a_switch_value_it_does_not_know_is_a_400_naming_it(emulator, payload):
    answer = web.post(f"{emulator.base_url}/_emulator/config", json=payload)
    assert answer.status_code == 400
    assert answer.json()["detail"].startswith(f"{next(iter(payload))} is ")


def test_a_clone_with_the_switch_on_is_made_and_answered_requires_verification(emulator):
    emulator.configure(clones_need_verification=True)
    answer = web.post(
        f"{emulator.base_url}/v1/voices/add",
        headers={"xi-api-key": "key"},
        data={"name": "warmline-x"},
        files=[("files", ("a.wav", b"RIFF0000WAVE", "audio/wav"))],
    )
    assert answer.status_code == 200 and answer.json()["requires_verification"] is True
    assert [voice["name"] for voice in emulator.voices()] == ["warmline-x"]


def test_voice_type_personal_lists_the_accounts_clones_and_no_premade_voice(emulator):
    emulator.configure(voice_search="words")
    web.post(
        f"{emulator.base_url}/v1/voices/add",
        headers={"xi-api-key": "key"},
        data={"name": "warmline-ck_1-job"},
        files=[("files", ("a.wav", b"RIFF0000WAVE", "audio/wav"))],
    ).raise_for_status()
    base, key = f"{emulator.base_url}/v2/voices", {"xi-api-key": "key"}

    own = web.get(base, headers=key, params={"voice_type": "personal", "category": "cloned"}).json()
    searched = web.get(base, headers=key, params={"search": "warmline-ck_1-"}).json()

    assert [voice["name"] for voice in own["voices"]] == ["warmline-ck_1-job"]
    assert searched["voices"] == []  # `words`: a name's substring is not a word
