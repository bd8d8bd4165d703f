from dataclasses import replace

import pytest

from tests.fakes import FakeVoiceProvider, InMemoryRegistryStore
from tests.unit.conftest import CALLER, clone_worker
from warmline.clone_state import CloneJob, CloneRecord, CloneStatus
from warmline.cloning import Delivery, Outcome, RetryLater, voice_name
from warmline.consent import ConsentEntry, ConsentEvent, ConsentSource
from warmline.events import EventType
from warmline.voice_provider import InvalidRequest, ProviderTimeout, ProviderUnavailable, RateLimited


@pytest.fixture
def job(store, clock):
    store.clones[CALLER] = CloneRecord(
        status=CloneStatus.PENDING,
        job_id="job1",
        expires_at=int(clock.now()) + 900,
        requested_at_ms=int(clock.now() * 1000),
        threecx_call_id="3cx-1",
    )
    return CloneJob("job1", CALLER, int(clock.now() * 1000), "3cx-1")


def run(job, store, samples, provider, events, clock, settings, receive_count=1, time_left=80.0, queue=None):
    worker = clone_worker(store, samples, provider, events, clock, settings, queue)
    return worker.run(job, Delivery(receive_count, lambda: time_left))


def test_success_writes_ready_with_voice_duration_and_ttl(
    registered, job, store, samples, provider, events, clock, settings
):
    provider.clone_seconds = 4.0

    result = run(job, store, samples, provider, events, clock, settings)

    record = store.clones[CALLER]
    assert result.outcome is Outcome.READY
    assert record.status is CloneStatus.READY and record.cloned_voice_id == result.voice_id
    assert record.clone_duration_ms == 4000
    assert record.expires_at == int(clock.now() + settings.clone_ttl_hours * 3600)
    assert provider.add_calls[0]["name"] == voice_name("job1", CALLER)
    assert [s.filename for s in provider.add_calls[0]["samples"]] == ["one.mp3"]
    ready = events.of_type(EventType.CLONE_READY)[0]
    assert ready.data["clone_duration_ms"] == 4000 and ready.data["threecx_call_id"] == "3cx-1"


def test_second_delivery_after_ready_makes_no_second_clone(
    registered, job, store, samples, provider, events, clock, settings
):
    run(job, store, samples, provider, events, clock, settings)
    again = run(job, store, samples, provider, events, clock, settings, receive_count=2)

    assert again.outcome is Outcome.ALREADY_DONE
    assert len(provider.add_calls) == 1


def test_delivery_while_another_holds_the_lease_is_retried_later(
    registered, job, store, samples, provider, events, clock, settings
):
    store.take_lease(
        CALLER,
        lease_token="other",
        now_ms=int(clock.now() * 1000),
        lease_expires_at_ms=int(clock.now() * 1000) + 60_000,
    )

    with pytest.raises(RetryLater):
        run(job, store, samples, provider, events, clock, settings, receive_count=3)
    assert provider.add_calls == []
    assert store.clones[CALLER].status is CloneStatus.CLONING  # not marked FAILED under another's lease


def test_expired_lease_is_taken_over_and_an_earlier_attempts_voice_is_reused(
    registered, job, store, samples, events, clock, settings
):
    provider = FakeVoiceProvider(clock=clock)
    now_ms = int(clock.now() * 1000)
    store.take_lease(CALLER, lease_token="dead-worker", now_ms=now_ms, lease_expires_at_ms=now_ms + 1000)
    provider.add_voice(
        name=voice_name("job1", CALLER), samples=[], description="", labels={}, timeout_seconds=1
    )
    clock.advance(5)

    result = run(job, store, samples, provider, events, clock, settings, receive_count=2)

    assert result.outcome is Outcome.READY
    assert len(provider.voices) == 1 and result.voice_id == provider.voices[0].voice_id
    assert len(provider.add_calls) == 1  # only the dead worker's


def test_rate_limits_are_retried_with_backoff(registered, job, store, samples, events, clock, settings):
    provider = FakeVoiceProvider(
        errors=[RateLimited("busy", status_code=429, code="system_busy")] * 2, clock=clock
    )

    result = run(job, store, samples, provider, events, clock, settings)

    assert result.outcome is Outcome.READY
    assert len(provider.add_calls) == 3
    assert len(clock.sleeps) == 2 and clock.sleeps[1] > clock.sleeps[0]


def test_ambiguous_failure_reuses_the_voice_it_actually_created(
    registered, job, store, samples, events, clock, settings
):
    provider = FakeVoiceProvider(
        errors=[ProviderUnavailable("boom", status_code=500)], create_before_error=True, clock=clock
    )

    result = run(job, store, samples, provider, events, clock, settings)

    assert result.outcome is Outcome.READY
    assert len(provider.add_calls) == 1 and len(provider.voices) == 1


def test_out_of_time_releases_the_lease_and_retries_later(
    registered, job, store, samples, events, clock, settings
):
    provider = FakeVoiceProvider(errors=[ProviderTimeout("slow")] * 5, clock=clock)

    with pytest.raises(RetryLater):
        run(job, store, samples, provider, events, clock, settings, time_left=6.0)
    assert store.clones[CALLER].status is CloneStatus.PENDING


def test_last_delivery_out_of_time_marks_failed_so_the_ivr_stops_waiting(
    registered, job, store, samples, events, clock, settings
):
    provider = FakeVoiceProvider(
        errors=[RateLimited("busy", status_code=429, code="too_many_concurrent_requests")] * 5, clock=clock
    )

    with pytest.raises(RetryLater):
        run(
            job,
            store,
            samples,
            provider,
            events,
            clock,
            settings,
            receive_count=settings.clone_max_receives,
            time_left=6.0,
        )
    record = store.clones[CALLER]
    assert record.status is CloneStatus.FAILED and record.error_code == "too_many_concurrent_requests"
    assert len(events.of_type(EventType.CLONE_FAILED)) == 1


@pytest.mark.parametrize(
    "error, code",
    [
        (InvalidRequest("bad audio", status_code=422, code="invalid_parameters"), "invalid_parameters"),
        (InvalidRequest("full", status_code=400, code="voice_limit_reached"), "voice_limit_reached"),
    ],
)
def test_other_client_errors_fail_at_once_with_the_providers_reason(
    registered, job, store, samples, events, clock, settings, error, code
):
    provider = FakeVoiceProvider(errors=[error], clock=clock)

    result = run(job, store, samples, provider, events, clock, settings)

    assert (result.outcome, result.error_code) == (Outcome.FAILED, code)
    assert len(provider.add_calls) == 1
    assert store.clones[CALLER].error_code == code


def test_caller_without_profile_fails_without_calling_the_provider(
    job, store, samples, provider, events, clock, settings
):
    result = run(job, store, samples, provider, events, clock, settings)
    assert (result.outcome, result.error_code) == (Outcome.FAILED, "no_sample")
    assert provider.add_calls == []


def test_job_for_an_expired_record_does_nothing(
    registered, job, store, samples, provider, events, clock, settings
):
    store.clones[CALLER] = replace(store.clones[CALLER], expires_at=int(clock.now()) - 1)
    assert run(job, store, samples, provider, events, clock, settings).outcome is Outcome.ALREADY_DONE
    assert provider.add_calls == []


def test_a_voice_found_by_name_after_a_timeout_is_rechecked_later(
    registered, job, store, samples, events, clock, settings, queue
):
    provider = FakeVoiceProvider(errors=[ProviderTimeout("slow")], create_before_error=True, clock=clock)

    result = run(job, store, samples, provider, events, clock, settings, queue=queue)

    assert result.outcome is Outcome.READY and len(provider.add_calls) == 1
    # Another hung attempt's voice could still appear: the job comes back, delayed, to look.
    assert queue.jobs == [job] and queue.delays == [settings.clone_recheck_delay_seconds]


def test_a_job_failing_on_its_last_delivery_after_a_timeout_is_rechecked_later(
    registered, job, store, samples, events, clock, settings, queue
):
    provider = FakeVoiceProvider(errors=[ProviderTimeout("slow")] * 5, clock=clock)

    with pytest.raises(RetryLater) as retry:
        run(job, store, samples, provider, events, clock, settings, 3, time_left=6.0, queue=queue)

    assert retry.value.failed is not None and store.clones[CALLER].status is CloneStatus.FAILED
    assert queue.jobs == [job]


def test_a_job_without_doubt_is_not_rechecked(
    registered, job, store, samples, provider, events, clock, settings, queue
):
    assert run(job, store, samples, provider, events, clock, settings, queue=queue).outcome is Outcome.READY
    assert queue.jobs == []


def test_the_recheck_of_a_failed_job_deletes_every_voice_it_made(
    registered, job, store, samples, events, clock, settings
):
    provider = FakeVoiceProvider(clock=clock)
    for _ in range(2):  # two hung attempts whose voices appeared after the job failed
        provider.add_voice(
            name=voice_name("job1", CALLER), samples=[], description="", labels={}, timeout_seconds=1
        )
    store.clones[CALLER] = replace(store.clones[CALLER], status=CloneStatus.FAILED, error_code="timeout")

    result = run(job, store, samples, provider, events, clock, settings, receive_count=1)

    assert result.outcome is Outcome.ALREADY_DONE
    assert provider.voices == [] and len(provider.deleted) == 2


class RemovedWhileCloning(FakeVoiceProvider):
    """`samples remove` runs while the clone request is in flight."""

    def __init__(self, store, clock):
        super().__init__(clock=clock)
        self.store = store

    def add_voice(self, **kwargs):
        added = super().add_voice(**kwargs)
        withdrawal = ConsentEntry(
            CALLER, ConsentEvent.WITHDRAWN, int(self.clock.now() * 1000), "op", ConsentSource.CLI
        )
        InMemoryRegistryStore(self.store).withdraw(CALLER, withdrawal)
        return added


def test_a_caller_removed_during_the_clone_has_the_new_voice_deleted(
    registered, job, store, samples, events, clock, settings
):
    provider = RemovedWhileCloning(store, clock)

    result = run(job, store, samples, provider, events, clock, settings)

    assert result.outcome is Outcome.ALREADY_DONE and result.voice_id == ""
    assert provider.voices == [] and len(provider.deleted) == 1
    assert store.clones[CALLER].status is CloneStatus.REMOVED
    assert events.of_type(EventType.CLONE_READY) == []


def test_a_lease_lost_to_another_delivery_of_the_job_keeps_the_voice_for_it(
    registered, job, store, samples, events, clock, settings
):
    class LeaseTakenOver(FakeVoiceProvider):
        def add_voice(self, **kwargs):
            added = super().add_voice(**kwargs)
            # Our lease expired mid-request and a later delivery took the job: it will find this
            # voice by name, so it must stay.
            current = store.clones[CALLER]
            until = int((clock.now() + 60) * 1000)
            store.clones[CALLER] = replace(current, lease_token="later", lease_expires_at_ms=until)
            return added

    provider = LeaseTakenOver(clock=clock)

    result = run(job, store, samples, provider, events, clock, settings)

    assert result.outcome is Outcome.ALREADY_DONE and provider.deleted == []
    assert [v.voice_id for v in provider.voices] == [result.voice_id]


def test_an_unexpected_failure_on_the_last_delivery_fails_the_job_and_is_rechecked(
    registered, job, store, samples, events, clock, settings, queue
):
    worker = clone_worker(store, samples, FakeVoiceProvider(clock=clock), events, clock, settings, queue)
    result = worker.fail_after_last_delivery(job, Delivery(3, lambda: 80.0))

    assert result.outcome is Outcome.FAILED and store.clones[CALLER].status is CloneStatus.FAILED
    assert queue.jobs == [job] and queue.delays == [settings.clone_recheck_delay_seconds]


def test_a_clone_past_the_add_edit_allowance_fails_with_its_reason_and_deletes_nothing(
    registered, job, store, samples, events, clock, settings
):
    from tests.fakes import FakeVoiceProvider
    from warmline.voice_provider import ProviderVoice

    other = ProviderVoice("old0001", f"warmline-ck_{'b' * 32}-old", "cloned", created_at_unix=1)
    provider = FakeVoiceProvider(clock=clock, voice_limit=1, voices=[other], max_voice_add_edits=5)
    provider.add_edit_counter = 5

    result = run(job, store, samples, provider, events, clock, settings)

    assert (result.outcome, result.error_code, result.failure_kind) == (
        Outcome.FAILED,
        "voice_add_edit_limit",
        "add_edit_limit",
    )
    assert provider.add_calls == [] and provider.deleted == []
    failed = events.of_type(EventType.CLONE_FAILED)[0]
    assert "5 of 5" in failed.data["error_message"]


def test_a_clone_reports_how_much_of_the_add_edit_allowance_is_left(
    registered, job, store, samples, events, clock, settings
):
    from tests.fakes import FakeVoiceProvider

    provider = FakeVoiceProvider(clock=clock, max_voice_add_edits=10)
    provider.add_edit_counter = 6

    result = run(job, store, samples, provider, events, clock, settings)

    assert result.outcome is Outcome.READY and result.add_edits_left == 3


def test_without_an_add_edit_maximum_nothing_is_reported(
    registered, job, store, samples, events, clock, settings
):
    from tests.fakes import FakeVoiceProvider

    result = run(job, store, samples, FakeVoiceProvider(clock=clock), events, clock, settings)

    assert result.outcome is Outcome.READY and result.add_edits_left is None


def test_a_refusal_after_the_allowance_ran_out_unseen_names_the_allowance(
    registered, job, store, samples, events, clock, settings
):
    from tests.fakes import FakeVoiceProvider

    provider = FakeVoiceProvider(clock=clock, max_voice_add_edits=None)
    worker = clone_worker(store, samples, provider, events, clock, settings)
    worker.subscriptions.get(provider, clock.now(), 30)  # read while there was no maximum
    provider.max_voice_add_edits = 0  # the plan's allowance ran out since

    result = worker.run(job, Delivery(1, lambda: 80.0))

    assert (result.outcome, result.failure_kind) == (Outcome.FAILED, "add_edit_limit")
    assert len(provider.add_calls) == 1


def test_the_backoff_doubles_to_its_cap_each_pause_spread_by_its_jitter():
    from warmline.cloning import BackoffPolicy

    backoff = BackoffPolicy(first_seconds=0.5, max_seconds=8.0, jitter=0.2)
    bases = [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]

    for retry, base in enumerate(bases):
        pauses = [backoff.pause(retry) for _ in range(50)]
        assert all(base * 0.8 <= pause <= base * 1.2 for pause in pauses)
        assert len(set(pauses)) > 1  # spread, so concurrent workers do not retry in step


def _dead_workers_lease(store, clock, seconds=60):
    now_ms = int(clock.now() * 1000)
    store.take_lease(CALLER, lease_token="dead", now_ms=now_ms, lease_expires_at_ms=now_ms + seconds * 1000)


def test_a_last_delivery_meeting_a_dead_workers_lease_comes_back_when_the_lease_ends(
    registered, job, store, samples, events, clock, settings, queue
):
    # The dead worker made its voice, then died before recording it.
    provider = FakeVoiceProvider(clock=clock)
    _dead_workers_lease(store, clock)
    provider.add_voice(
        name=voice_name("job1", CALLER), samples=[], description="", labels={}, timeout_seconds=1
    )
    last = settings.clone_max_receives

    result = run(job, store, samples, provider, events, clock, settings, last, queue=queue)

    # The message is not left to the dead-letter queue: a copy comes back when the lease ends.
    assert result.outcome is Outcome.ALREADY_DONE
    assert queue.jobs == [job] and queue.delays == [61]
    clock.advance(queue.delays[0])
    again = run(queue.jobs[0], store, samples, provider, events, clock, settings, 1, queue=queue)
    assert again.outcome is Outcome.READY and store.clones[CALLER].status is CloneStatus.READY
    assert [v.voice_id for v in provider.voices] == [again.voice_id] and len(provider.add_calls) == 1


def test_a_last_delivery_meeting_a_live_lease_without_a_queue_is_retried(
    registered, job, store, samples, provider, events, clock, settings
):
    _dead_workers_lease(store, clock)
    with pytest.raises(RetryLater):
        run(job, store, samples, provider, events, clock, settings, settings.clone_max_receives)


def test_a_stale_last_delivery_does_not_fail_another_jobs_live_attempt(
    registered, store, samples, events, clock, settings, queue
):
    provider = FakeVoiceProvider(clock=clock)
    worker = clone_worker(store, samples, provider, events, clock, settings, queue)
    store.clones[CALLER] = CloneRecord(
        CloneStatus.PENDING, "jobB", expires_at=int(clock.now()) + 900, requested_at_ms=1
    )
    _dead_workers_lease(store, clock)  # job B's live attempt
    stale = CloneJob("jobA", CALLER, 1, "3cx-0")

    assert worker.fail_after_last_delivery(stale, Delivery(3, lambda: 80.0)) is None
    assert store.clones[CALLER].status is CloneStatus.CLONING and events.events == []


def test_a_last_delivery_fails_its_own_job_only_under_its_own_or_a_lapsed_lease(
    registered, job, store, samples, events, clock, settings, queue
):
    worker = clone_worker(store, samples, FakeVoiceProvider(clock=clock), events, clock, settings, queue)
    delivery = Delivery(3, lambda: 80.0)
    _dead_workers_lease(store, clock)  # another delivery of job1, alive

    assert worker.fail_after_last_delivery(job, delivery) is None
    assert store.clones[CALLER].status is CloneStatus.CLONING

    clock.advance(61)  # that lease lapsed: the worker holding it died
    assert worker.fail_after_last_delivery(job, delivery).outcome is Outcome.FAILED
    assert store.clones[CALLER].status is CloneStatus.FAILED


def test_a_last_delivery_fails_its_job_under_the_lease_it_took(
    registered, job, store, samples, events, clock, settings, queue
):
    class Broken(FakeVoiceProvider):
        def add_voice(self, **kwargs):
            raise LookupError("a bug")

    worker = clone_worker(store, samples, Broken(clock=clock), events, clock, settings, queue)
    delivery = Delivery(3, lambda: 80.0)
    with pytest.raises(LookupError):
        worker.run(job, delivery)
    assert store.clones[CALLER].status is CloneStatus.CLONING  # our own live lease

    assert worker.fail_after_last_delivery(job, delivery).outcome is Outcome.FAILED
    assert store.clones[CALLER].status is CloneStatus.FAILED


def test_a_clone_needing_verification_is_deleted_and_failed_never_ready(
    registered, job, store, samples, provider, events, clock, settings
):
    provider.requires_verification = True

    result = run(job, store, samples, provider, events, clock, settings)

    assert (result.outcome, result.failure_kind) == (Outcome.FAILED, "needs_verification")
    record = store.clones[CALLER]
    assert record.status is CloneStatus.FAILED and not record.cloned_voice_id
    assert record.error_code == "requires_verification"
    assert provider.voices == [] and provider.deleted == ["voice0001"]
    assert events.of_type(EventType.CLONE_READY) == []


def test_a_clone_needing_verification_whose_delete_failed_is_rechecked_later(
    registered, job, store, samples, events, clock, settings, queue
):
    provider = FakeVoiceProvider(
        clock=clock, requires_verification=True, delete_errors=[ProviderUnavailable("down", status_code=503)]
    )

    result = run(job, store, samples, provider, events, clock, settings, queue=queue)

    assert result.outcome is Outcome.FAILED
    assert queue.jobs == [job]  # the re-check deletes the voice the record does not hold


def deliver(job, store, samples, provider, events, clock, settings, receive_count=1):
    worker = clone_worker(store, samples, provider, events, clock, settings)
    return worker.deliver(job, Delivery(receive_count, lambda: 80.0))


def test_a_delivery_is_done_with_its_result(
    registered, job, store, samples, provider, events, clock, settings
):
    outcome = deliver(job, store, samples, provider, events, clock, settings)

    assert not outcome.retry and outcome.hide_seconds is None
    assert outcome.result is not None and outcome.result.outcome is Outcome.READY


def test_a_delivery_under_another_lease_is_retried_hidden_until_that_lease_ends(
    registered, job, store, samples, provider, events, clock, settings
):
    now_ms = int(clock.now() * 1000)
    store.take_lease(CALLER, lease_token="other", now_ms=now_ms, lease_expires_at_ms=now_ms + 60_000)

    outcome = deliver(job, store, samples, provider, events, clock, settings)

    assert (outcome.retry, outcome.result, outcome.hide_seconds) == (True, None, 61)
    assert not outcome.last_delivery_failed


def test_an_unexpected_error_on_the_last_delivery_fails_the_job_and_is_retried_to_the_dlq(
    registered, job, store, samples, events, clock, settings
):
    provider = FakeVoiceProvider(errors=[RuntimeError("a bug")], clock=clock)

    first = deliver(job, store, samples, provider, events, clock, settings, receive_count=1)
    store.release_lease(CALLER, store.clones[CALLER].lease_token)
    provider = FakeVoiceProvider(errors=[RuntimeError("a bug")], clock=clock)
    last = deliver(
        job, store, samples, provider, events, clock, settings, receive_count=settings.clone_max_receives
    )

    assert first.retry and first.result is None and not first.last_delivery_failed
    assert last.retry and last.last_delivery_failed
    assert store.clones[CALLER].status is CloneStatus.FAILED
