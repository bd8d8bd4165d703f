"""Which voices may go (clone_state.voice_status), and the scheduled sweep over them, with fakes."""

from collections import Counter

import pytest

from tests.fakes import FakeClock, FakeVoiceProvider, InMemoryCloneStore, InMemoryEvents, InMemoryHandoffs
from tests.unit.conftest import CALLER
from warmline.clone_state import CloneRecord, CloneStatus, VoiceStatus, voice_status
from warmline.consent import ConsentEntry, ConsentEvent, ConsentSource
from warmline.housekeeping import Sweep, SweepContext, run_sweeps
from warmline.settings import Settings
from warmline.voice_provider import ProviderUnavailable, ProviderVoice
from warmline.voice_slots import voice_name
from warmline.voice_sweep import sweep_voices, tidy_caller_voices

NOW = 1_800_000_000.0


def ready(voice_id="v1", job_id="j1", expires_in=3600, last_used_ago=None):
    return CloneRecord(
        status=CloneStatus.READY,
        job_id=job_id,
        expires_at=int(NOW + expires_in),
        requested_at_ms=0,
        cloned_voice_id=voice_id,
        ready_at_ms=int((NOW - 7200) * 1000),
        last_used_at_ms=int((NOW - last_used_ago) * 1000) if last_used_ago is not None else 0,
    )


def in_flight(job_id="j1", status=CloneStatus.CLONING, expires_in=600, lease_in=60):
    return CloneRecord(
        status=status,
        job_id=job_id,
        expires_at=int(NOW + expires_in),
        requested_at_ms=0,
        lease_token="t",
        lease_expires_at_ms=int((NOW + lease_in) * 1000),
    )


@pytest.mark.parametrize(
    "record, voice_id, job_id, expected",
    [
        (ready(), "v1", "j1", VoiceStatus.IN_USE),
        (ready(), "v2", "j1", VoiceStatus.ORPHAN),  # an extra voice of the same job
        (ready(), "v0", "j0", VoiceStatus.ORPHAN),  # the clone before this one
        (ready(expires_in=-1), "v1", "j1", VoiceStatus.EXPIRED),
        (ready(expires_in=-60, last_used_ago=120), "v1", "j1", VoiceStatus.GRACE),
        (ready(expires_in=-60, last_used_ago=301), "v1", "j1", VoiceStatus.EXPIRED),
        (in_flight(), "v9", "j1", VoiceStatus.IN_FLIGHT),
        (in_flight(status=CloneStatus.PENDING, lease_in=-1), "v9", "j1", VoiceStatus.IN_FLIGHT),
        (in_flight(), "v9", "j0", VoiceStatus.ORPHAN),  # an older job's voice while a new one runs
        # The record expired while a worker still holds its lease: that worker may yet record it.
        (in_flight(expires_in=-1, lease_in=30), "v9", "j1", VoiceStatus.IN_FLIGHT),
        (in_flight(expires_in=-1, lease_in=-1), "v9", "j1", VoiceStatus.ORPHAN),
        (None, "v1", "j1", VoiceStatus.ORPHAN),
    ],
)
def test_what_a_record_makes_of_a_voice(record, voice_id, job_id, expected):
    assert voice_status(record, voice_id, job_id, NOW, grace_seconds=300) is expected


def test_a_failed_or_removed_record_holds_no_voice():
    failed = CloneRecord(CloneStatus.FAILED, "j1", int(NOW + 300), 0, error_code="x")
    removed = CloneRecord(CloneStatus.REMOVED, "", int(NOW), 0, removed_at_ms=int(NOW * 1000))
    assert voice_status(failed, "v1", "j1", NOW) is VoiceStatus.ORPHAN
    assert voice_status(removed, "v1", "j1", NOW) is VoiceStatus.ORPHAN


OTHER = "ck_" + "b" * 32
FOREIGN = "ck_" + "c" * 32


@pytest.fixture
def account():
    """CALLER: an expired clone and a live one's extra; OTHER: removed (consent log only);
    FOREIGN: unknown to this stack. Plus a voice that is not warmline's."""
    clock = FakeClock(NOW)
    store = InMemoryCloneStore()
    provider = FakeVoiceProvider(clock=clock)
    store.clones[CALLER] = ready(voice_id="live", job_id="j2")
    store.consent.append(ConsentEntry(OTHER, ConsentEvent.WITHDRAWN, 0, "op", ConsentSource.CLI))
    provider.voices = [
        ProviderVoice("old", voice_name("j1", CALLER), created_at_unix=100),
        ProviderVoice("live", voice_name("j2", CALLER), created_at_unix=200),
        ProviderVoice("extra", voice_name("j2", CALLER), created_at_unix=201),
        ProviderVoice("removed1", voice_name("j3", OTHER), created_at_unix=50),
        ProviderVoice("foreign", voice_name("j4", FOREIGN), created_at_unix=10),
        ProviderVoice("mine", "Jane's own voice", created_at_unix=1),
    ]
    return store, provider, clock


def context(store, provider, clock, time_left=100.0, **settings):
    handoffs = InMemoryHandoffs(store, InMemoryEvents())
    return SweepContext(store, handoffs, lambda: provider, clock, Settings(**settings), lambda: time_left)


def test_the_sweep_deletes_what_no_record_holds_and_nothing_it_does_not_know(account):
    store, provider, clock = account

    report = sweep_voices(context(store, provider, clock))

    assert sorted(provider.deleted) == ["extra", "old", "removed1"]
    assert {v.voice_id for v in provider.voices} == {"live", "foreign", "mine"}
    assert report.deleted == Counter(orphan=3)
    assert (report.warmline_voices, report.kept, report.foreign) == (5, 1, 1)


def test_the_sweep_deletes_expired_clones_first_and_stops_at_its_bound(account):
    store, provider, clock = account
    store.clones[CALLER] = ready(voice_id="live", job_id="j2", expires_in=-1)

    report = sweep_voices(context(store, provider, clock, sweep_max_deletions=2))

    assert provider.deleted == ["live", "removed1"]  # the expired clone, then the oldest orphan
    assert report.deleted == Counter(expired=1, orphan=1) and report.left_for_next_run == 2


def test_the_sweep_stops_starting_work_when_the_invocation_runs_out_of_time(account):
    store, provider, clock = account

    report = sweep_voices(context(store, provider, clock, time_left=4.0))

    assert provider.deleted == []
    assert report.unchecked == 5


def test_a_failed_delete_is_counted_and_the_sweep_goes_on(account):
    store, provider, clock = account
    original = provider.delete_voice

    def flaky(voice_id):
        if voice_id == "old":
            raise ProviderUnavailable("boom", status_code=503)
        original(voice_id)

    provider.delete_voice = flaky

    report = sweep_voices(context(store, provider, clock))

    assert report.failed_deletes == 1 and report.deleted == Counter(orphan=2)


def test_one_failing_sweep_does_not_stop_the_others(account):
    store, provider, clock = account

    def broken(_context):
        raise RuntimeError("no")

    outcomes = run_sweeps(
        [Sweep("broken", broken), Sweep("voices", sweep_voices)], context(store, provider, clock)
    )

    assert [(o.name, o.error) for o in outcomes] == [("broken", "RuntimeError: no"), ("voices", "")]
    assert outcomes[1].report.deleted == Counter(orphan=3)


def test_tidying_one_caller_keeps_the_in_flight_jobs_voice(account):
    store, provider, clock = account
    store.clones[CALLER] = in_flight(job_id="j5")
    provider.voices.append(ProviderVoice("new", voice_name("j5", CALLER)))

    deleted = tidy_caller_voices(
        CALLER,
        cloner=provider,
        store=store,
        clock=clock,
        grace_seconds=Settings().voice_expiry_grace_seconds,
    )

    assert deleted == 3 and sorted(provider.deleted) == ["extra", "live", "old"]
    assert "new" in {v.voice_id for v in provider.voices}
