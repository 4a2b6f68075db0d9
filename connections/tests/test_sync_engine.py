"""The sync engine's reading side: sources read side by side, in order, stopped together."""

from __future__ import annotations

import threading
import time

import pytest

from connections.sync.engine import interleaved, lanes_of


def slow(prefix: str, count: int, delay: float):
    for n in range(count):
        time.sleep(delay)
        yield f"{prefix}{n}"


def test_items_of_each_source_keep_their_order_and_all_arrive():
    got = list(interleaved([slow("a", 30, 0.001), slow("b", 20, 0.0015), iter([])]))

    assert [x for x in got if x.startswith("a")] == [f"a{n}" for n in range(30)]
    assert [x for x in got if x.startswith("b")] == [f"b{n}" for n in range(20)]
    assert len(got) == 50


def test_sources_are_read_side_by_side():
    # each source waits for the other before it yields: read one after the other, the first
    # would wait for a reader that never starts, and its barrier breaks after 5 s
    both_reading = threading.Barrier(2, timeout=5)

    def waits_for_the_other(prefix: str):
        both_reading.wait()
        yield f"{prefix}0"
        yield f"{prefix}1"

    got = list(interleaved([waits_for_the_other("a"), waits_for_the_other("b")]))

    assert sorted(got) == ["a0", "a1", "b0", "b1"]


def test_a_source_error_reaches_the_caller_after_what_came_before_it():
    def failing():
        yield "ok"
        raise ValueError("page 2 is malformed")

    reader = interleaved([failing()])
    assert next(reader) == "ok"
    with pytest.raises(ValueError, match="page 2 is malformed"):
        next(reader)


def test_stopping_early_stops_every_reader_thread():
    before = threading.active_count()
    reader = interleaved([slow("a", 10_000, 0.001), slow("b", 10_000, 0.001)])
    assert next(reader)
    reader.close()

    assert threading.active_count() == before


def test_streams_without_a_lane_share_lane_zero_in_their_order():
    class S:
        def __init__(self, name, lane=None):
            self.name = name
            if lane is not None:
                self.lane = lane

    streams = [S("a"), S("p", 1), S("b"), S("t", 1)]

    assert [[s.name for s in lane] for lane in lanes_of(streams)] == [["a", "b"], ["p", "t"]]
