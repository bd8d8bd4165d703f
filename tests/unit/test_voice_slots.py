"""Which voice goes when every voice slot is used (warmline.voice_slots), with the in-memory fakes:
orphans first, oldest first; then the least recently used READY clone; never a clone used within
`voice_in_use_seconds`, never a voice warmline did not make, never the voice of a job in flight."""

from dataclasses import replace

import pytest

from tests.fakes import FakeClock, FakeVoiceProvider, InMemoryCloneStore, InMemoryEvents, InMemorySamples
from warmline.clone_state import CallerProfile, CloneJob, CloneRecord, CloneStatus
from warmline.cloning import ClonePolicy, CloneWorker, CloneWorkerPorts, Delivery, Outcome
from warmline.settings import Settings
from warmline.voice_provider import ProviderVoice
from warmline.voice_slots import (
    NoSlotFree,
    SlotPolicy,
    SubscriptionCache,
    VoiceSlots,
    choose_voice_to_delete,
    voice_name,
)

NOW = 1_800_000_000.0
IN_USE_S = 600
SETTINGS = Settings(voice_in_use_seconds=IN_USE_S, voice_slot_cache_seconds=30)


def key(n: int) -> str:
    return f"ck_{n:032x}"


def ms_ago(seconds: float) -> int:
    return int((NOW - seconds) * 1000)


def voice(n: int, job: str = "j1", created_ago: float = 86_400) -> ProviderVoice:
    """Caller n's voice for job `job`, made `created_ago` seconds ago."""
    return ProviderVoice(
        f"voice-{n}-{job}", voice_name(job, key(n)), "cloned", created_at_unix=int(NOW - created_ago)
    )


def ready(n: int, used_ago: float, job: str = "j1") -> CloneRecord:
    """Caller n's live READY clone, made a day ago and last handed out `used_ago` seconds ago."""
    return CloneRecord(
        status=CloneStatus.READY,
        job_id=job,
        expires_at=int(NOW + 3600),
        requested_at_ms=ms_ago(86_400),
        cloned_voice_id=f"voice-{n}-{job}",
        ready_at_ms=ms_ago(86_400),
        last_used_at_ms=ms_ago(used_ago),
    )


def cloning(job: str) -> CloneRecord:
    """Job `job` in flight: a worker holds its lease for another minute."""
    return CloneRecord(
        status=CloneStatus.CLONING,
        job_id=job,
        expires_at=int(NOW + 600),
        requested_at_ms=ms_ago(5),
        lease_token="t",
        lease_expires_at_ms=ms_ago(-60),
    )


def store_with(*registered: int, **records: CloneRecord) -> InMemoryCloneStore:
    """Records by caller number: store_with(c1=ready(1, ...)); `registered`: callers this stack
    has a profile for (with no record)."""
    store = InMemoryCloneStore()
    for name, record in records.items():
        store.clones[key(int(name[1:]))] = record
    for n in registered:
        store.profiles[key(n)] = CallerProfile(key(n), ("samples/a.mp3",), "test", "+44 **** 0000", 1)
    return store


def chosen(voices, store):
    picked = choose_voice_to_delete(voices, store=store, now=NOW, policy=SlotPolicy.from_settings(SETTINGS))
    return picked.voice_id if picked else None


def test_an_orphan_goes_before_any_ready_clone_however_long_unused():
    store = store_with(2, c1=ready(1, used_ago=30 * 86_400))
    orphan = voice(2, created_ago=60)  # caller 2 has no record: nobody is handed this voice

    assert chosen([voice(1), orphan], store) == orphan.voice_id


def test_orphans_go_oldest_first():
    voices = [voice(1, created_ago=3600), voice(2, created_ago=7200), voice(3, created_ago=60)]

    assert chosen(voices, store_with(1, 2, 3)) == "voice-2-j1"


@pytest.mark.parametrize(
    "why",
    [
        "a failed clone's record",
        "an expired clone",
        "superseded by a newer clone",
        "an extra voice of the same job",
    ],
)
def test_a_voice_no_caller_may_be_handed_is_an_orphan(why):
    record = {
        "a failed clone's record": replace(
            ready(1, used_ago=1), status=CloneStatus.FAILED, cloned_voice_id=""
        ),
        "an expired clone": replace(
            ready(1, used_ago=SETTINGS.voice_expiry_grace_seconds + 1), expires_at=int(NOW - 1)
        ),
        "superseded by a newer clone": ready(1, used_ago=1, job="j2"),
        "an extra voice of the same job": replace(ready(1, used_ago=1), cloned_voice_id="voice-1-other"),
    }[why]
    # Caller 2's READY clone was last used longer ago than this voice was made: the orphan still goes first.
    store = store_with(c1=record, c2=ready(2, used_ago=7200))

    assert chosen([voice(2), voice(1, created_ago=60)], store) == "voice-1-j1"


def test_without_orphans_the_least_recently_used_ready_clone_goes():
    store = store_with(c1=ready(1, used_ago=3600), c2=ready(2, used_ago=7200), c3=ready(3, used_ago=1800))

    assert chosen([voice(1), voice(2), voice(3)], store) == "voice-2-j1"


@pytest.mark.parametrize("use", ["ready_at_ms", "handoff_at_ms", "last_used_at_ms"])
def test_becoming_ready_a_handoff_and_being_handed_out_each_count_as_a_use(use):
    """Caller 1's clone is older in every other way; one recent use of any kind keeps it longer."""
    recent = replace(ready(1, used_ago=5 * 3600), **{use: ms_ago(3600)})
    store = store_with(c1=recent, c2=ready(2, used_ago=2 * 3600))

    assert chosen([voice(1), voice(2)], store) == "voice-2-j1"


def test_a_clone_used_within_the_in_use_window_never_goes():
    store = store_with(c1=ready(1, used_ago=IN_USE_S - 1), c2=ready(2, used_ago=IN_USE_S + 1))

    assert chosen([voice(1), voice(2)], store) == "voice-2-j1"
    assert chosen([voice(1)], store) is None


def test_never_a_voice_of_a_caller_this_stack_does_not_know():
    """Named like warmline's, for a caller with no profile, record or consent entry here: another
    stack sharing the account made it (the sweep leaves it alone too)."""
    store = store_with(c1=ready(1, used_ago=7200))

    assert chosen([voice(2, created_ago=30 * 86_400), voice(1)], store) == "voice-1-j1"
    assert chosen([voice(2, created_ago=30 * 86_400)], store) is None


def test_a_clone_handed_out_seconds_before_its_record_expired_keeps_its_grace_period():
    """Its caller may still be speaking in it (voice_expiry_grace_seconds, as for the sweep): a
    clone idle for hours goes instead."""
    just_expired = replace(ready(1, used_ago=5), expires_at=int(NOW - 1))
    store = store_with(c1=just_expired, c2=ready(2, used_ago=5 * 3600))

    assert chosen([voice(1), voice(2)], store) == "voice-2-j1"
    assert chosen([voice(1)], store) is None


def test_expired_clones_and_orphans_go_least_recently_used_first():
    """An orphan made a day ago goes before an expired clone made two days ago but last handed out
    an hour ago: an orphan's last use is its making."""
    expired = replace(ready(1, used_ago=3600), expires_at=int(NOW - 60))
    store = store_with(2, c1=expired)

    assert chosen([voice(1, created_ago=2 * 86_400), voice(2, created_ago=86_400)], store) == "voice-2-j1"


def test_never_a_voice_warmline_did_not_make():
    others = [
        ProviderVoice("owner1", "Rachel", "cloned", created_at_unix=1),
        ProviderVoice("owner2", "warmline-demo", "cloned", created_at_unix=1),  # not warmline's pattern
        ProviderVoice("owner3", f"my {voice_name('j1', key(1))}", "cloned", created_at_unix=1),
        ProviderVoice("owner4", f"warmline-ck_{'A' * 32}-j1", "cloned", created_at_unix=1),  # no caller key
    ]

    assert chosen(others, store_with()) is None


def test_never_the_voice_of_a_job_in_flight():
    """The next attempt of job j2 picks up its earlier attempt's voice by name; an older job's voice
    of the same caller is an orphan."""
    store = store_with(c1=cloning("j2"))

    assert chosen([voice(1, job="j2", created_ago=7200)], store) is None
    assert chosen([voice(1, job="j2", created_ago=7200), voice(1, job="j1", created_ago=60)], store) == (
        "voice-1-j1"
    )


def test_a_job_whose_record_expired_while_its_worker_holds_the_lease_keeps_its_voice():
    store = store_with(c1=replace(cloning("j2"), expires_at=int(NOW - 1)))

    assert chosen([voice(1, job="j2")], store) is None


# --- make_room: the slot count, the deletion, the record ----------------------------------------


def full_account(voices, limit=None):
    """An account holding these voices, with no slot free (or `limit` slots in all)."""
    return FakeVoiceProvider(voices=list(voices), voice_limit=len(voices) if limit is None else limit)


def room(provider, store, cache=None, known_full=False):
    slots = VoiceSlots(
        provider, store, FakeClock(NOW), cache or SubscriptionCache(), SlotPolicy.from_settings(SETTINGS)
    )
    return slots.make_room(known_full=known_full)


def test_with_a_free_slot_nothing_goes():
    provider = full_account([voice(1)], limit=2)

    assert room(provider, store_with()) == ""
    assert provider.deleted == [] and len(provider.voices) == 1


def test_a_full_account_loses_the_chosen_voice_and_its_record_expires_before_it_goes():
    store = store_with(c1=ready(1, used_ago=3600), c2=ready(2, used_ago=7200))
    seen_at_delete = []

    class Provider(FakeVoiceProvider):
        def delete_voice(self, voice_id):
            seen_at_delete.append(store.get_clone(key(2)).is_ready(NOW))
            super().delete_voice(voice_id)

    provider = Provider(voices=[voice(1), voice(2)], voice_limit=2)
    cache = SubscriptionCache()

    assert room(provider, store, cache) == "voice-2-j1"
    assert provider.deleted == ["voice-2-j1"] and seen_at_delete == [False]  # never handed out again
    assert store.get_clone(key(1)).is_ready(NOW)
    assert cache.current().free_slots == 1  # this environment counts the slot it freed


def test_when_nothing_may_go_no_slot_is_free_and_nothing_is_touched():
    owner = ProviderVoice("owner1", "Rachel", "cloned", created_at_unix=1)
    store = store_with(c1=ready(1, used_ago=10), c2=cloning("j1"))
    before = dict(store.clones)
    provider = full_account([owner, voice(1), voice(2)])

    with pytest.raises(NoSlotFree):
        room(provider, store)
    assert provider.deleted == [] and store.clones == before


def test_a_voice_limit_answer_makes_room_although_the_cached_count_shows_a_free_slot():
    """Another execution environment filled the last slot since this one read the count."""
    provider = full_account([voice(1)], limit=2)
    cache = SubscriptionCache()
    assert room(provider, store_with(), cache) == ""
    provider.voices.append(voice(2, created_ago=60))

    assert room(provider, store_with(1, 2), cache) == ""  # the cache still says one is free
    assert room(provider, store_with(1, 2), cache, known_full=True) == "voice-1-j1"


# --- a clone job in a full account --------------------------------------------------------------


def clone_for_caller_0(store, provider):
    """Caller 0's clone job, with one voice sample, run to its end."""
    samples = InMemorySamples()
    samples.objects["samples/one.mp3"] = b"ID3 audio"
    store.profiles[key(0)] = CallerProfile(key(0), ("samples/one.mp3",), "agreed", "+44******0000", 0)
    store.clones[key(0)] = replace(cloning("job0"), status=CloneStatus.PENDING, lease_token="")
    ports = CloneWorkerPorts(store, samples, lambda: provider, InMemoryEvents(), FakeClock(NOW))
    worker = CloneWorker(ports, ClonePolicy.from_settings(SETTINGS))
    return worker.run(CloneJob("job0", key(0), ms_ago(5), "3cx-0"), Delivery(1, lambda: 80.0))


def test_a_clone_in_a_full_account_takes_the_least_recently_used_clones_slot():
    store = store_with(c1=ready(1, used_ago=3600), c2=ready(2, used_ago=7200))
    provider = full_account([voice(1), voice(2)])

    result = clone_for_caller_0(store, provider)

    assert result.outcome is Outcome.READY
    assert provider.deleted == ["voice-2-j1"] and not store.get_clone(key(2)).is_ready(NOW)
    assert {v.voice_id for v in provider.voices} == {"voice-1-j1", result.voice_id}


def test_a_clone_with_every_slot_held_fails_as_voice_slots_full_and_deletes_nothing():
    owner = ProviderVoice("owner1", "Rachel", "cloned", created_at_unix=1)
    store = store_with(c1=ready(1, used_ago=60))
    provider = full_account([owner, voice(1)])

    result = clone_for_caller_0(store, provider)

    assert (result.outcome, result.error_code, result.failure_kind) == (
        Outcome.FAILED,
        "voice_slots_full",
        "voice_limit",
    )
    assert provider.add_calls == [] and provider.deleted == []
    assert store.get_clone(key(0)).status is CloneStatus.FAILED
