"""Whole calls over HTTP against the local stack: gateway, function processes, moto, the emulator."""

from concurrent.futures import ThreadPoolExecutor

from emulators.elevenlabs import Fault


def clones_for(emulator, caller_key):
    return [
        r
        for r in emulator.requests("/v1/voices/add")
        if r["status"] == 200 and r["form"]["name"][0].startswith(f"warmline-{caller_key}-")
    ]


def test_first_time_caller_hears_greeting_then_the_cloned_voice(register, caller, emulator):
    key = register("+44 20 7946 1001")

    outcome = caller.call("+442079461001")

    texts = [text for _, text in outcome.timeline.entries]
    assert texts[0] == "webhook answered (clone job queued)"
    assert texts[1].startswith("3CX transfers the call to the agent's number")  # the CFD flow's transfer
    assert texts[2] == "greeting starts in the greeting voice"
    assert outcome.handed_off and outcome.final_voice == "cloned"
    assert texts[-1].startswith("agent speaks in the cloned voice")
    assert len(clones_for(emulator, key)) == 1
    assert outcome.cloned_voice_id in {v["voice_id"] for v in emulator.voices()}
    assert set(outcome.statuses) == {200}


def test_repeat_caller_reuses_the_clone_at_once(register, caller, emulator):
    key = register("+44 20 7946 1002")
    first = caller.call("+442079461002")

    again = caller.call("+442079461002")

    assert again.final_voice == "cloned" and again.cloned_voice_id == first.cloned_voice_id
    assert again.key_presses == 0
    assert again.timeline.entries[0][1] == "webhook answered (clone already ready)"
    assert len(clones_for(emulator, key)) == 1


def test_caller_without_sample_gets_the_default_voice_at_once(caller, emulator, local_stack):
    before = len(emulator.requests("/v1/voices/add"))

    outcome = caller.call("+442079461003")

    assert outcome.final_voice == "default" and outcome.key_presses == 0
    assert outcome.timeline.entries[0][1] == "webhook answered (no voice sample: default voice)"
    assert len(emulator.requests("/v1/voices/add")) == before


def test_failed_clone_tells_the_agent_to_go_on_in_its_own_voice(register, caller, emulator):
    key = register("+44 20 7946 1004")
    # Turned down after a while, as ElevenLabs does: the agent has started in the greeting by then.
    # (Refused at once, the failure can beat conversation-init on a busy machine, and the agent
    # starts in its own voice: test_conversation_init_without_clone_uses_agents_own_voice.)
    emulator.inject(
        Fault(
            method="POST",
            path_prefix="/v1/voices/add",
            status=422,
            code="invalid_audio",
            seconds=2.0,
            count=1,
        )
    )

    outcome = caller.call("+442079461004")

    assert outcome.final_voice == "default" and not outcome.handed_off
    assert "failed" in outcome.timeline.entries[-1][1]
    assert clones_for(emulator, key) == []


def test_concurrent_calls_from_one_caller_make_one_clone(register, caller, emulator):
    key = register("+44 20 7946 1005")

    with ThreadPoolExecutor(max_workers=6) as pool:
        outcomes = list(pool.map(lambda _: caller.call("+442079461005"), range(6)))

    assert all(o.final_voice == "cloned" for o in outcomes)
    assert len({o.cloned_voice_id for o in outcomes}) == 1
    assert sum("clone job queued" in o.timeline.entries[0][1] for o in outcomes) == 1
    assert len(clones_for(emulator, key)) == 1
