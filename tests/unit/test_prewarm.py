"""Which incoming calls warm check_clone (warmline.prewarm), and that a warm-up never fails the call."""

from warmline.calls import CallDecision, CloneProgress, Voice
from warmline.prewarm import WARM_UP_EVENT, WARMED, answers_warm_up, warm_ahead


class Warmer:
    def __init__(self, error: Exception | None = None):
        self.error = error
        self.asked = 0

    def warm(self) -> None:
        self.asked += 1
        if self.error is not None:
            raise self.error


def test_the_callers_who_hear_the_menu_warm_check_clone_once(clock):
    will_press = [
        CallDecision(Voice.GREETING, CloneProgress.PENDING, job_queued=True),
        CallDecision(Voice.GREETING, CloneProgress.CLONING, job_queued=False),
        # A caller with a PIN presses 1 (and types it) before their ready clone is handed out.
        CallDecision(Voice.GREETING, CloneProgress.READY, job_queued=False, pin_required=True),
    ]
    for decision in will_press:
        warmer = Warmer()
        assert warm_ahead(warmer, decision, clock).sent and warmer.asked == 1


def test_the_callers_who_press_nothing_cost_no_warm_up(clock):
    press_nothing = [
        CallDecision(Voice.CLONED, CloneProgress.READY, job_queued=False, cloned_voice_id="v1"),
        CallDecision(Voice.DEFAULT, CloneProgress.NO_SAMPLE, job_queued=False),
        CallDecision(Voice.DEFAULT, CloneProgress.FAILED, job_queued=False),
        CallDecision(Voice.DEFAULT, CloneProgress.WITHHELD, job_queued=False),
    ]
    for decision in press_nothing:
        warmer = Warmer()
        assert warm_ahead(warmer, decision, clock) is None and warmer.asked == 0
    pending = CallDecision(Voice.GREETING, CloneProgress.PENDING, job_queued=True)
    assert warm_ahead(None, pending, clock) is None  # no function to warm (the settings name none)


def test_a_warm_up_that_fails_is_reported_not_raised(clock):
    pending = CallDecision(Voice.GREETING, CloneProgress.PENDING, job_queued=True)

    warm_up = warm_ahead(Warmer(TimeoutError("read timeout")), pending, clock)

    assert warm_up is not None and not warm_up.sent


def test_the_handler_answers_a_warm_up_without_running():
    handled = []
    handler = answers_warm_up(lambda event, context: handled.append(event) or "handled")

    assert handler(dict(WARM_UP_EVENT), None) == WARMED
    assert handler({"warmline": "something else"}, None) == "handled"
    assert handled == [{"warmline": "something else"}]
