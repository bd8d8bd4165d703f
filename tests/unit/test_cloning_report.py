"""The metrics endpoint's figures from known events, computed by hand, and its query window."""

from datetime import UTC, datetime

import pytest

from warmline.cloning_report import (
    DEFAULT_WINDOW_MS,
    InvalidWindow,
    cloning_report,
    nearest_rank,
    parse_window,
)
from warmline.events import Event, EventType

T0 = 1_795_428_900_000


def ready(duration_ms, caller="ck_a"):
    return Event(
        EventType.CLONE_READY, T0, caller, {"clone_duration_ms": duration_ms, "cloned_voice_id": "v"}
    )


def failed(kind):
    return Event(EventType.CLONE_FAILED, T0, "ck_f", {"failure_kind": kind, "error_code": "x"})


def answered(cache_hit):
    return Event(EventType.CALL_ANSWERED, T0, "ck_a", {"cache_hit": cache_hit, "threecx_call_id": "c"})


def ivr(caller, call_id, wait_ms, outcome):
    return Event(
        EventType.IVR_CHECK, T0, caller, {"threecx_call_id": call_id, "wait_ms": wait_ms, "outcome": outcome}
    )


def test_figures_from_a_known_set_of_events():
    durations = [1200, 300, 900, 4000, 2500, 700, 1500, 3300, 800, 2000]
    events = [ready(d) for d in durations]
    events += [failed("voice_limit"), failed("rate_limited")]
    events += [answered(True), answered(True), answered(True), answered(False)]
    events += [
        ivr("ck_a", "call-1", 500, "ask_again"),
        ivr("ck_a", "call-1", 1200, "ready"),
        ivr("ck_b", "call-2", 8000, "timeout"),
        ivr("ck_c", "call-3", 100, "failed"),
    ]
    events += [Event(EventType.HANDOFF, T0, "ck_a", {"ivr_wait_ms": 1200})]

    report = cloning_report(events)

    # sorted: 300 700 800 900 1200 1500 2000 2500 3300 4000; sum 17200
    assert report.avg_clone_time_ms == 1720.0
    assert report.p50_clone_time_ms == 1200  # rank ceil(0.50 * 10) = 5
    assert report.p95_clone_time_ms == 4000  # rank ceil(0.95 * 10) = 10
    assert report.p99_clone_time_ms == 4000
    assert report.async_clone_success_rate == round(10 / 12, 4)
    assert report.clones_failed_by_reason == {"voice_limit": 1, "rate_limited": 1}
    assert (report.cache_hit_rate, report.cache_hits, report.calls_with_voice_sample) == (0.75, 3, 4)
    # three calls waited (call-1 twice), one of them reached the greeting timeout
    assert (report.calls_waited_in_ivr, report.calls_timed_out_in_ivr) == (3, 1)
    assert report.clone_timeout_rate == round(1 / 3, 4)
    assert report.avg_wait_during_ivr_ms == 2450.0  # (500 + 1200 + 8000 + 100) / 4
    assert (report.ivr_waits, report.handoffs) == (4, 1)


def test_handoffs_completed_and_lost_with_the_transfer_times_nearest_rank():
    transfers = [1800, 900, 4200, 1200, 1500, 700, 2600, 1100, 3100, 950, 1300, 2000]
    events = [Event(EventType.HANDOFF, T0, f"ck_{n}", {"call_id": f"c{n}"}) for n in range(15)]
    events += [Event(EventType.HANDOFF_COMPLETED, T0, "ck_a", {"transfer_ms": ms}) for ms in transfers]
    events += [Event(EventType.HANDOFF_LOST, T0, "ck_b", {"waited_ms": 31_000})] * 2

    report = cloning_report(events)

    assert (report.handoffs, report.handoffs_completed, report.handoffs_lost) == (15, 12, 2)
    # sorted: 700 900 950 1100 1200 1300 1500 1800 2000 2600 3100 4200
    assert report.p50_handoff_transfer_ms == 1300  # rank ceil(0.50 * 12) = 6
    assert report.p95_handoff_transfer_ms == 4200  # rank ceil(0.95 * 12) = 12


def test_nearest_rank_percentiles_of_twenty_values():
    values = [100 * n for n in range(1, 21)]
    assert [nearest_rank(values, p) for p in (50, 95, 99, 100)] == [1000, 1900, 2000, 2000]
    assert nearest_rank([7], 1) == 7


def test_an_empty_window_has_zero_counts_and_no_figures():
    report = cloning_report([])

    assert report.clones_ready == report.clones_failed == report.calls_with_voice_sample == 0
    assert report.ivr_waits == report.handoffs == report.calls_waited_in_ivr == 0
    assert report.clones_failed_by_reason == {}
    figures = [
        report.avg_clone_time_ms,
        report.p50_clone_time_ms,
        report.p95_clone_time_ms,
        report.p99_clone_time_ms,
        report.clone_timeout_rate,
        report.cache_hit_rate,
        report.async_clone_success_rate,
        report.avg_wait_during_ivr_ms,
        report.p50_handoff_transfer_ms,
        report.p95_handoff_transfer_ms,
    ]
    assert figures == [None] * 10
    assert report.handoffs_completed == report.handoffs_lost == 0


def test_pin_checks_are_counted_by_result_and_locks_by_the_check_that_started_them():
    def pin_check(result, locked_now=False):
        return Event(EventType.PIN_CHECK, T0, "ck_p", {"result": result, "locked_now": locked_now})

    checks = ["rejected", "rejected", "rejected", "locked", "missing", "accepted", "accepted"]
    report = cloning_report([pin_check(r, locked_now=n == 2) for n, r in enumerate(checks)])

    assert report.pin_checks_by_result == {"accepted": 2, "rejected": 3, "missing": 1, "locked": 1}
    assert report.pin_lockouts == 1
    assert cloning_report([]).pin_checks_by_result == {
        "accepted": 0,
        "rejected": 0,
        "missing": 0,
        "locked": 0,
    }


def test_only_failures_give_a_success_rate_of_zero_and_no_clone_times():
    report = cloning_report([failed("internal")])
    assert report.async_clone_success_rate == 0.0
    assert report.avg_clone_time_ms is None and report.p99_clone_time_ms is None


NOW = 1_795_428_900_000


def test_the_default_window_is_the_last_24_hours():
    assert parse_window({}, NOW) == (NOW - DEFAULT_WINDOW_MS, NOW)
    assert parse_window({"to": "1795000000000"}, NOW) == (1795000000000 - DEFAULT_WINDOW_MS, 1795000000000)


def test_iso_8601_and_epoch_milliseconds_are_accepted():
    start = int(datetime(2026, 11, 23, 10, tzinfo=UTC).timestamp() * 1000)
    hour = 3_600_000
    assert parse_window({"from": "2026-11-23T10:00:00Z", "to": str(start + hour)}, NOW) == (
        start,
        start + hour,
    )
    # no offset means UTC; an offset is honoured
    assert parse_window({"from": "2026-11-23T10:00:00", "to": "2026-11-23T13:00:00+02:00"}, NOW) == (
        start,
        start + hour,
    )


@pytest.mark.parametrize(
    "query, parameter",
    [
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-13-01T00:00:00Z"}, "to"),
        ({"from": "-5"}, "from"),
        ({"to": "99999999999999999"}, "to"),
        ({"from": "1795428900000", "to": "1795428900000"}, "from"),
        ({"from": "1795428900001", "to": "1795428900000"}, "from"),
        ({"from": "2026-10-01T00:00:00Z", "to": "2026-11-24T00:00:00Z"}, "from"),
        ({"since": "1795428900000"}, "since"),
    ],
)
def test_bad_windows_name_the_parameter(query, parameter):
    with pytest.raises(InvalidWindow) as raised:
        parse_window(query, NOW)
    assert raised.value.parameter == parameter


def test_a_window_of_exactly_31_days_is_allowed():
    start = 1_790_000_000_000
    assert parse_window({"from": str(start), "to": str(start + 31 * 86_400_000)}, NOW)[0] == start
