"""The local stack's clock (local/clock.py) and what a function process reads of it
(local/lambda_runtime.py): the offset a test advances is the offset every function sees at once."""

import time

import pytest

from local.clock import StackClock
from local.lambda_runtime import ClockOffsetFile


def test_an_advance_is_seen_by_a_reader_of_the_file_at_once(tmp_path):
    clock = StackClock(tmp_path / "clock-offset")
    reader = ClockOffsetFile(str(clock.path))
    assert reader.seconds() == 0.0

    clock.advance(900)
    assert reader.seconds() == 900.0
    clock.advance(0.5)
    assert reader.seconds() == 900.5
    assert abs(clock.now() - (time.time() + 900.5)) < 1


def test_the_clock_only_moves_forward(tmp_path):
    clock = StackClock(tmp_path / "clock-offset")
    clock.advance(10)
    with pytest.raises(ValueError):
        clock.advance(-1)
    assert ClockOffsetFile(str(clock.path)).seconds() == 10.0


def test_a_reader_keeps_the_last_offset_when_the_file_is_gone(tmp_path):
    clock = StackClock(tmp_path / "clock-offset")
    reader = ClockOffsetFile(str(clock.path))
    clock.advance(42)
    assert reader.seconds() == 42.0
    clock.path.unlink()  # the stack is stopping
    assert reader.seconds() == 42.0
