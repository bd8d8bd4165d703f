"""warmline with 3CX and ElevenLabs as they document themselves (issue 9), whole calls on the local
stack: the simulated 3CX builds the SIP INVITE from its trunk settings, and the emulator's agent,
wired by `warmline elevenlabs configure`, sends SIP-shaped conversation-init bodies and calls
check_clone as its tool configuration says."""

import pytest

from emulators.caller import EmulatedAgent, Pbx
from emulators.elevenlabs import Fault
from tests import web
from tests.waiting import eventually
from warmline_cli.main import main

PIN = "482916"


def figures(local_stack):
    """The metrics route's counts. Its 503 `timeout` (its DynamoDB reads outlasted their AWS timeout:
    moto, beside a CPU hog, over the events the shared stack's calls left) says to ask again."""

    def answered():
        response = web.get(
            local_stack.endpoints["CloningMetrics"],
            headers={"X-Warmline-Secret": local_stack.secrets["OperatorSecret"]},
            timeout=10,
        )
        if response.status_code == 200:
            return response.json()["counts"]
        if response.status_code != 503 or response.json().get("error") != "timeout":
            pytest.fail(f"the metrics route answered {response.status_code}: {response.text}")
        return None

    return eventually(answered, within=60, what="the cloning figures")


def caller_id_counts(local_stack):
    counts = figures(local_stack)
    return counts["caller_id_not_passed_through"], counts["caller_id_correlated"]


# ---- 1. the caller's number across the SIP leg ------------------------------------------------------


def test_a_trunk_that_passes_the_caller_id_hands_off_to_the_clone_unreported(
    register, make_caller, local_stack
):
    register("+44 20 7946 2001")
    before = caller_id_counts(local_stack)

    outcome = make_caller(pbx=Pbx(did="+441000002001")).call("+442079462001")

    assert outcome.handed_off and outcome.final_voice == "cloned"
    assert set(outcome.statuses) == {200}
    assert caller_id_counts(local_stack) == before


def test_a_trunk_presenting_its_own_number_is_detected_and_tied_to_the_one_call(
    register, make_caller, local_stack
):
    """Tied only for a caller with a PIN, which they type before the clone speaks."""
    key = register("+44 20 7946 2002", pin=PIN)
    before = caller_id_counts(local_stack)

    caller = make_caller(pbx=Pbx(did="+441000002002", passes_caller_id=False))
    outcome = caller.call("+442079462002", pin=PIN)

    assert outcome.error == "" and set(outcome.statuses) == {200}
    assert outcome.handed_off and outcome.final_voice == "cloned"  # correlated on both legs
    assert all(leg["warmline_caller_key"] == key for leg in outcome.conversations)
    not_passed, correlated = caller_id_counts(local_stack)
    # The first conversation-init, each check_clone and the re-entry leg's conversation-init.
    assert not_passed - before[0] == correlated - before[1] == 2 + outcome.key_presses


def test_a_second_caller_behind_an_unconfigured_trunk_gets_the_default_voice_never_a_guess(
    register, make_caller, local_stack
):
    register("+44 20 7946 2003", pin=PIN)
    second_key = register("+44 20 7946 2004", pin=PIN)
    caller = make_caller(pbx=Pbx(did="+441000002003", passes_caller_id=False))
    assert caller.call("+442079462003", pin=PIN).handed_off  # the only call to this number: tied to it
    before = caller_id_counts(local_stack)

    second = caller.call("+442079462004", pin=PIN)  # two calls to the number in the window now

    assert second.error == "" and set(second.statuses) == {200}
    assert second.final_voice == "default" and not second.handed_off
    assert all(leg["warmline_caller_key"] != second_key for leg in second.conversations)
    not_passed, correlated = caller_id_counts(local_stack)
    assert not_passed == before[0] + 1 and correlated == before[1]


def test_a_caller_without_a_pin_behind_an_unconfigured_trunk_is_never_tied_to_their_call(
    register, make_caller, local_stack
):
    """The one recent call to the number proves nothing: anyone calling it then would get the clone."""
    key = register("+44 20 7946 2041")
    before = caller_id_counts(local_stack)

    outcome = make_caller(pbx=Pbx(did="+441000002041", passes_caller_id=False)).call("+442079462041")

    assert outcome.error == "" and set(outcome.statuses) == {200}
    assert outcome.final_voice == "default" and not outcome.handed_off
    assert all(leg["warmline_caller_key"] != key for leg in outcome.conversations)
    assert caller_id_counts(local_stack)[1] == before[1]


# ---- 2. conversation-init answers whatever ElevenLabs sends -------------------------------------------


def test_a_sip_uri_caller_id_reaches_the_clone(register, make_caller, local_stack):
    register("+44 20 7946 2005")
    agent = EmulatedAgent(local_stack.emulator.base_url, caller_id_as="uri")

    outcome = make_caller(agent=agent, pbx=Pbx(did="+441000002005")).call("+442079462005")

    assert outcome.handed_off and outcome.final_voice == "cloned" and set(outcome.statuses) == {200}


def test_the_pre_call_webhook_gets_sip_shaped_bodies(local_stack):
    invite = {"from": "sip:+442079462006@pbx.local", "to": "sip:+441000000001@sip.rtc.elevenlabs.io"}

    conversation = web.post(f"{local_stack.emulator.base_url}/_emulator/sip/inbound", json=invite).json()

    assert conversation["webhook_request"] == {
        "caller_id": "+442079462006",
        "agent_id": "agent_warmline_local",
        "called_number": "+441000000001",
        "call_sid": None,
    }
    assert conversation["webhook_status"] == 200 and conversation["webhook_problem"] == ""
    assert conversation["dynamic_variables"]["warmline_mode"] == "default"


# ---- 3. one person, one caller key ----------------------------------------------------------------


def test_a_caller_registered_in_one_form_and_presented_in_another_is_one_caller(register, caller):
    register("+44 (0)20 7946 2007")  # how the operator wrote it

    outcome = caller.call("020 7946 2007")  # how 3CX presents it (DefaultCountryCode 44)

    assert outcome.handed_off and outcome.final_voice == "cloned"


# ---- 4. no silence while check_clone waits ----------------------------------------------------------


def test_the_caller_hears_the_agent_and_a_sound_while_check_clone_waits(register, caller, local_stack):
    register("+44 20 7946 2008")

    outcome = caller.call("+442079462008")

    assert outcome.key_presses >= 1 and outcome.silent_waits == 0
    assert any("music while check_clone waits" in text for _, text in outcome.timeline.entries)
    [tool] = local_stack.emulator.tools()
    assert tool["tool_config"]["pre_tool_speech"] == "force"


# ---- 5. the voices API as it behaves --------------------------------------------------------------


def test_warmline_finds_voices_with_v2_search_never_the_v1_list(register, caller, local_stack):
    register("+44 20 7946 2009")
    caller.call("+442079462009")

    emulator = local_stack.emulator
    assert [
        r for r in emulator.requests("/v1/voices") if (r["method"], r["path"]) == ("GET", "/v1/voices")
    ] == []
    assert all(r["status"] == 200 for r in emulator.requests("/v2/voices"))


def test_a_clone_past_the_add_edit_allowance_fails_with_its_reason_and_the_call_goes_on(
    register, caller, local_stack, emulator
):
    register("+44 20 7946 2010")
    used = web.get(
        f"{emulator.base_url}/v1/user/subscription",
        headers={"xi-api-key": local_stack.secrets["ElevenLabsApiKeySecret"]},
    ).json()["voice_add_edit_counter"]
    before = figures(local_stack)["clones_failed_by_reason"].get("add_edit_limit", 0)
    emulator.configure(max_voice_add_edits=used)
    try:
        outcome = caller.call("+442079462010")
    finally:
        emulator.configure(max_voice_add_edits=None)

    assert outcome.error == "" and outcome.final_voice == "default" and not outcome.handed_off
    assert figures(local_stack)["clones_failed_by_reason"]["add_edit_limit"] == before + 1


def test_samples_remove_takes_a_voice_already_gone_as_gone(register, caller, local_stack, emulator):
    register("+44 20 7946 2011")
    voice_id = caller.call("+442079462011").cloned_voice_id
    web.delete(
        f"{emulator.base_url}/v1/voices/{voice_id}",
        headers={"xi-api-key": local_stack.secrets["ElevenLabsApiKeySecret"]},
    ).raise_for_status()  # deleted out of band: the next delete answers 400 voice_not_found

    state = ["--local", "--local-state", str(local_stack.state_file)]
    assert main(["samples", "remove", *state, "--caller", "+442079462011", "--yes"]) == 0

    deletes = [r for r in emulator.requests(f"/v1/voices/{voice_id}") if r["method"] == "DELETE"]
    assert [r["status"] for r in deletes] == [200, 400]


# ---- 6. configure never crashes on an answer it did not expect ----------------------------------------


def test_configure_on_the_running_stack_reports_an_odd_answer_in_one_line(local_stack, emulator, capsys):
    emulator.inject(Fault(method="GET", path_prefix="/v1/convai/agents/", kind="body", status=200, body=[]))
    state = ["--local", "--local-state", str(local_stack.state_file)]

    assert main(["elevenlabs", "configure", *state, "--transfer-to", "sip:800@pbx.local"]) == 1

    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: ElevenLabs: GET /v1/convai/agents/")
