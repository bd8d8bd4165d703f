"""Callers with a PIN, over HTTP on the local stack: accepted, rejected, missing, locked; the clone
speaks only on the leg after an accepted PIN, and only once."""

import pytest

from tests import web

PIN = "482916"
WRONG = "482619"


def pin_counts(local_stack):
    response = web.get(
        local_stack.endpoints["CloningMetrics"],
        headers={"X-Warmline-Secret": local_stack.secrets["OperatorSecret"]},
        timeout=10,
    )
    response.raise_for_status()
    counts = response.json()["counts"]
    return {**counts["pin_checks_by_result"], "lockouts": counts["pin_lockouts"]}


def counted_since(local_stack, before):
    after = pin_counts(local_stack)
    return {name: after[name] - before[name] for name in after if after[name] != before[name]}


def conversation_init(local_stack, number):
    """What a new conversation from this number is given, as the agent would ask for it."""
    response = web.post(
        local_stack.endpoints["ConversationInit"],
        headers={"X-Warmline-Secret": local_stack.secrets["AgentSecret"]},
        json={"caller_id": number, "agent_id": "agent_local", "called_number": "+441000000000"},
        timeout=10,
    )
    response.raise_for_status()
    return response.json()


def test_the_right_pin_hands_off_to_the_clone_and_only_that_leg_gets_it(register, caller, local_stack):
    register("+44 20 7946 1101", pin=PIN)
    before = pin_counts(local_stack)

    outcome = caller.call("+442079461101", pin=PIN)

    texts = [text for _, text in outcome.timeline.entries]
    assert "agent asks for the caller's PIN; caller types it" in texts
    assert outcome.handed_off and outcome.final_voice == "cloned"
    # Each press of 1 carried the PIN and was verified.
    assert counted_since(local_stack, before) == {"accepted": outcome.key_presses}

    # The handoff leg claimed the verified handoff: a spoofed call from the number right after it
    # gets the greeting (and the PIN question), not the clone, although the clone is ready.
    spoofed = conversation_init(local_stack, "+442079461101")
    assert spoofed["dynamic_variables"]["warmline_mode"] == "greeting"
    assert spoofed["dynamic_variables"]["warmline_clone_status"] == "ready"
    assert spoofed["dynamic_variables"]["warmline_pin_required"] == "yes"
    assert spoofed["conversation_config_override"]["tts"]["voice_id"] != outcome.cloned_voice_id

    # The caller's next call: the clone is ready, yet it speaks only after the PIN, on the handoff leg.
    again = caller.call("+442079461101", pin=PIN)
    assert again.timeline.entries[0][1] == "webhook answered (clone already ready)"
    assert again.handed_off and again.cloned_voice_id == outcome.cloned_voice_id
    assert again.key_presses == 1


@pytest.mark.parametrize(("typed", "result"), [(WRONG, "rejected"), (None, "missing")])
def test_a_wrong_or_missing_pin_gets_the_default_voice_and_is_counted(
    register, caller, local_stack, typed, result
):
    number = "+442079461102" if typed else "+442079461103"
    register(number, pin=PIN)
    before = pin_counts(local_stack)

    outcome = caller.call(number, pin=typed)

    assert outcome.final_voice == "default" and not outcome.handed_off and outcome.key_presses == 1
    assert outcome.timeline.entries[-1][1].startswith("agent goes on in its own voice (not_verified)")
    assert counted_since(local_stack, before) == {result: 1}
    assert conversation_init(local_stack, number)["dynamic_variables"]["warmline_mode"] != "cloned"


def test_after_three_wrong_pins_even_the_right_one_is_refused_until_the_lock_ends(
    register, caller, local_stack
):
    number = "+442079461104"
    register(number, pin=PIN)
    before = pin_counts(local_stack)

    lockout_seconds = int(local_stack.model.parameters["PinLockoutSeconds"])  # the template's 15 minutes
    clock = local_stack.clock
    guesses = [caller.call(number, pin=WRONG) for _ in range(2)]
    third_sent = clock.now()  # the lock begins between these two instants
    guesses.append(caller.call(number, pin=WRONG))
    locked_by = clock.now()
    refused = caller.call(number, pin=PIN)

    assert [g.final_voice for g in guesses] == ["default"] * 3
    assert clock.now() - third_sent < lockout_seconds, "the right PIN came after the lock ended"
    assert refused.final_voice == "default" and not refused.handed_off
    assert counted_since(local_stack, before) == {"rejected": 3, "locked": 1, "lockouts": 1}

    clock.advance(locked_by + lockout_seconds + 0.2 - clock.now())
    after_lock = caller.call(number, pin=PIN)

    assert after_lock.handed_off and after_lock.final_voice == "cloned"
