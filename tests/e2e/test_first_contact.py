"""What a first real call would meet (issue 22 section 2), whole calls on the local stack with the
emulator playing the platform as documented, or its stricter world behind a switch."""

from urllib.parse import quote

import pytest

from tests import web
from tests.e2e.test_platforms import figures
from warmline_cli.main import main


def state_args(local_stack):
    return ["--local", "--local-state", str(local_stack.state_file)]


def voices_named(emulator, caller_key):
    return [voice for voice in emulator.voices() if voice["name"].startswith(f"warmline-{caller_key}-")]


# ---- requires_verification -------------------------------------------------------------------------


def test_a_clone_needing_verification_is_deleted_counted_and_never_handed_out(
    register, caller, local_stack, emulator, capsys
):
    key = register("+44 20 7946 3601")
    before = figures(local_stack)["clones_failed_by_reason"].get("needs_verification", 0)
    emulator.configure(clones_need_verification=True)
    try:
        outcome = caller.call("+442079463601")
    finally:
        emulator.configure(clones_need_verification=False)

    assert outcome.error == "" and outcome.final_voice == "default" and not outcome.handed_off
    made = [
        r for r in emulator.requests("/v1/voices/add") if r["form"]["name"][0].startswith(f"warmline-{key}-")
    ]
    assert len(made) == 1 and made[0]["status"] == 200
    assert voices_named(emulator, key) == []  # deleted at once
    assert figures(local_stack)["clones_failed_by_reason"]["needs_verification"] == before + 1

    capsys.readouterr()
    assert main(["samples", "show", *state_args(local_stack), "--caller", "+442079463601"]) == 0
    shown = capsys.readouterr().out
    assert "error       requires_verification" in shown
    assert "ElevenLabs asked to verify" in shown
    assert main(["doctor", *state_args(local_stack)]) == 1
    assert "clone(s) since" in capsys.readouterr().out


# ---- check_clone for a caller it cannot read ----------------------------------------------------------


@pytest.mark.parametrize("caller_id", ["anonymous", "Withheld", " ", "not-a-number"])
def test_check_clone_for_a_caller_it_cannot_read_tells_the_agent_to_go_on(local_stack, caller_id):
    url = local_stack.endpoints["CheckClone"].replace("{caller_id}", quote(caller_id, safe=""))

    answer = web.post(
        url,
        json={"pressed_key": "1", "conversation_id": "conv_unreadable"},
        headers={"X-Warmline-Secret": local_stack.secrets["AgentSecret"]},
        timeout=10,
    )

    assert answer.status_code == 200, answer.text
    assert answer.json()["next_action"] == "continue_with_default_voice"
    assert answer.json()["status"] == "unavailable"


# ---- voice look-ups: the account's own cloned voices, never a search over the library --------------


def test_samples_remove_finds_the_clone_whatever_the_voice_search_matches(
    register, caller, local_stack, emulator
):
    key = register("+44 20 7946 3602")
    voice_id = caller.call("+442079463602").cloned_voice_id
    assert voice_id
    emulator.configure(voice_search="words")  # a search that never matches a name's substring
    try:
        assert (
            main(["samples", "remove", *state_args(local_stack), "--caller", "+442079463602", "--yes"]) == 0
        )
    finally:
        emulator.configure(voice_search="substring")

    assert voices_named(emulator, key) == []
    listed = emulator.requests("/v2/voices")
    assert listed and all(
        r["query"].get("voice_type") == ["personal"] and r["query"].get("category") == ["cloned"]
        for r in listed
    )


# ---- the agent's own dynamic variables ----------------------------------------------------------------


def _agent_prompt_patch(local_stack, prompt, placeholders=None):
    agent = {"prompt": {"prompt": prompt}}
    if placeholders:
        agent["dynamic_variables"] = {"dynamic_variable_placeholders": placeholders}
    web.patch(
        f"{local_stack.emulator.base_url}/v1/convai/agents/{local_stack.emulator.default_agent_id}",
        headers={"xi-api-key": local_stack.secrets["ElevenLabsApiKeySecret"]},
        json={"conversation_config": {"agent": agent}},
    ).raise_for_status()


def test_conversation_init_answers_the_agents_own_variables_once_configure_recorded_them(
    local_stack, emulator, caller, capsys
):
    prompt = emulator.agent()["conversation_config"]["agent"]["prompt"]["prompt"]
    own = " The caller's tier is {{customer_tier}}; their account {{account_ref}}."
    _agent_prompt_patch(local_stack, prompt + own, {"customer_tier": "standard"})
    try:
        broken = caller.call("+442079463603")  # the operator added variables; configure not run again
        assert "Missing required dynamic variables: account_ref, customer_tier" in broken.error

        capsys.readouterr()
        assert main(["doctor", *state_args(local_stack)]) == 1
        assert "not recorded for conversation-init: account_ref, customer_tier" in capsys.readouterr().out
        assert main(["elevenlabs", "configure", *state_args(local_stack)]) == 0

        outcome = caller.call("+442079463603")
        assert outcome.error == "" and outcome.final_voice == "default"
        [variables] = outcome.conversations
        assert (variables["customer_tier"], variables["account_ref"]) == ("standard", "")
        assert variables["warmline_mode"] == "default"

        _agent_prompt_patch(local_stack, prompt + own + " Plan: {{plan_name}}.")
        capsys.readouterr()
        assert main(["doctor", *state_args(local_stack)]) == 1
        assert "changed since configure recorded them: added plan_name" in capsys.readouterr().out
    finally:
        _agent_prompt_patch(local_stack, prompt)
        main(["elevenlabs", "configure", *state_args(local_stack)])
