"""The fallback the operator chose when the greeting timeout passes (GreetingTimeoutFallback, issue 23):
`voicemail` - after one press the agent takes a message. The other choice, `default_voice`, is the
template's default: tests/e2e/test_one_press.py plays it
(test_a_clone_slower_than_the_greeting_timeout_gives_the_fallback_after_one_press).

Durations are scaled down as there: a greeting timeout of 2 s (the template allows 5 s and more), a
check_clone wait of at most 0.8 s, a clone of 6 s that comes after the timeout.
"""

import pytest

from emulators.caller import EmulatedAgent, SimulatedCaller
from emulators.elevenlabs import CloneLatency
from local.stack import LocalStack, StackOptions
from tests.stack_settings import warm
from warmline_cli.api import register_caller

GREETING_TIMEOUT_SECONDS = 2.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack = LocalStack(
        state_dir=tmp_path_factory.mktemp("warmline-fallback"),
        options=StackOptions(
            emulator_options={"clone_latency": CloneLatency(6.0, 6.0), "voice_limit": 5},
            parameter_overrides={"DefaultCountryCode": "44", "GreetingTimeoutFallback": "voicemail"},
            env_overrides={
                "GREETING_TIMEOUT_SECONDS": str(GREETING_TIMEOUT_SECONDS),
                "IVR_MAX_WAIT_SECONDS": "0.8",
            },
        ),
    )
    stack.start()
    warm(stack)
    yield stack
    stack.stop()


def test_past_the_greeting_timeout_the_agent_takes_a_message_after_one_press(stack, sample):
    number = "+442079465300"
    register_caller(stack.describe(), number, [sample], consent="e2e test")
    caller = SimulatedCaller.for_stack(
        stack.describe(),
        greeting_seconds=0.4,
        pause_between_presses_seconds=0.1,
        agent=EmulatedAgent(stack.emulator.base_url),
    )

    outcome = caller.call(number)

    assert outcome.key_presses == 1 and outcome.rechecks >= 1
    assert outcome.final_voice == "voicemail" and not outcome.handed_off
    [(at, heard)] = [
        (at, text) for at, text in outcome.timeline.entries if text.startswith("agent takes a message")
    ]
    assert "Please leave your message after the tone" in heard
    assert GREETING_TIMEOUT_SECONDS <= at <= GREETING_TIMEOUT_SECONDS + 1.0
