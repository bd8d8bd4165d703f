"""A small load run in CI (the benchmark runs 200): mixed callers at once, nothing lost or doubled."""

import time
from collections import Counter

from emulators.calls import place_calls, plan_calls, prepare
from emulators.demo_audio import write_sample
from emulators.elevenlabs import CloneLatency


def test_thirty_mixed_calls_ten_at_once(local_stack, caller, tmp_path):
    emulator = local_stack.emulator
    # Ten warm environments for each function a call reaches, as provisioned concurrency would keep:
    # ten cold starts at once queue for this machine's init slots, and a caller met by them reaches
    # conversation-init after their clone is ready (then greeted in the clone, no handoff to see).
    for function_id in ("WebhookFunction", "IvrCheckFunction"):
        local_stack.runtime.pools[function_id].provision(10)
    calls = plan_calls(30, "mixed", run_id=90_000 + int(time.time()) % 9_000)
    prepare(local_stack.describe(), calls, caller, write_sample(tmp_path / "sample.wav", seconds=6))
    # Ten calls at once on a busy machine reach conversation-init up to seconds after their webhook;
    # a first-time caller's clone takes longer than that here (as at ElevenLabs), so they are greeted.
    usual = emulator.clone_latency
    emulator.configure(clone_latency=CloneLatency(2.5, 3.5))
    try:
        outcomes = place_calls(calls, caller, concurrency=10)
    finally:
        emulator.configure(clone_latency=usual)

    statuses = Counter(status for outcome in outcomes for status in outcome.statuses)
    assert set(statuses) == {200}, statuses
    by_kind = {kind: [o for c, o in zip(calls, outcomes, strict=True) if c.kind == kind] for kind in KINDS}
    assert all(o.final_voice == "cloned" and o.handed_off for o in by_kind["first"])
    assert all(o.final_voice == "cloned" and o.key_presses == 0 for o in by_kind["repeat"])
    assert all(o.final_voice == "default" for o in by_kind["no-sample"])
    added = Counter(
        r["form"]["name"][0].rsplit("-", 1)[0]
        for r in emulator.requests("/v1/voices/add")
        if r["status"] == 200
    )
    cloned_voices = {o.cloned_voice_id for o in outcomes if o.cloned_voice_id}
    assert len(cloned_voices) == 20  # one voice per caller with a sample
    assert all(count == 1 for count in added.values()), added  # no caller cloned twice
    assert cloned_voices <= {v["voice_id"] for v in emulator.voices()}


KINDS = ("first", "repeat", "no-sample")
