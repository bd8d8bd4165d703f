"""`make calls`' summary counts how often each caller pressed 1 (issue 23: the target is once)."""

from emulators.caller import CallOutcome, Timeline
from emulators.calls import PlannedCall, summary


def outcome(number: str, presses: int) -> CallOutcome:
    return CallOutcome(
        caller=number, call_id="c", timeline=Timeline(), final_voice="cloned", key_presses=presses
    )


def test_the_summary_counts_presses_per_call_of_the_callers_who_pressed():
    calls = [PlannedCall("first", "+447000000001"), PlannedCall("first", "+447000000002")]
    calls += [PlannedCall("repeat", "+447000000003")]
    outcomes = [outcome("+447000000001", 1), outcome("+447000000002", 3), outcome("+447000000003", 0)]

    first, repeat, errors = summary(calls, outcomes)

    assert first.endswith("presses per call {1: 1, 3: 1}")
    assert repeat.endswith("presses per call none")  # a repeat caller hears the clone at once
    assert errors == "errors: 0"
