"""FrameBuffer at its edges (the live-mode drop and the batch a worker takes): counts, not clocks (issue 16)."""

from __future__ import annotations

from detectkit.video.sources import FrameBuffer


def test_get_takes_one_item_by_default_and_oldest_first():
    buffer = FrameBuffer(4, drop_oldest=False)
    for i in range(3):
        assert buffer.put(i)
    assert buffer.get() == [0] and buffer.get(5) == [1, 2] and buffer.dropped == 0


def test_live_buffer_drops_only_when_full():
    buffer = FrameBuffer(2, drop_oldest=True)
    buffer.put("a"), buffer.put("b")
    assert buffer.dropped == 0 and buffer.high_water == 2
    buffer.put("c")
    assert buffer.dropped == 1 and buffer.get(3) == ["b", "c"]


def test_a_full_batch_is_returned_without_waiting_for_more():
    buffer = FrameBuffer(3, drop_oldest=False)
    for i in range(3):
        buffer.put(i)
    assert buffer.get(8, fill=True, timeout=30.0) == [0, 1, 2]  # full buffer: no wait for 8
    buffer.put(3)
    buffer.end()
    assert buffer.get(8, fill=True, timeout=30.0) == [3] and buffer.get(1, timeout=30.0) is None  # ended: no wait


def test_without_fill_a_partial_batch_comes_back_at_once():
    buffer = FrameBuffer(4, drop_oldest=True)
    buffer.put("only")
    assert buffer.get(4, timeout=30.0) == ["only"]  # no waiting for 4 (a 30 s wait would show as a hang)


def test_an_empty_buffer_answers_an_empty_batch_when_the_wait_is_over():
    buffer = FrameBuffer(4, drop_oldest=False)
    assert buffer.get(4, fill=True, timeout=0.01) == [] and buffer.get(1, timeout=0.01) == []
    buffer.close()
    assert buffer.get(1, timeout=30.0) is None


def test_get_waits_for_an_item_that_comes_while_it_waits():
    """An item put while ``get`` waits is returned: ``get`` does not give up before its timeout. The
    producer puts once the consumer is inside ``Condition.wait`` (an event, not a sleep); the 0.9 s
    timeout only bounds how long the producer thread may take to be scheduled."""
    import threading

    buffer = FrameBuffer(2, drop_oldest=True)
    waiting = threading.Event()
    real_wait = buffer._cond.wait

    def wait(timeout=None):
        waiting.set()
        return real_wait(timeout)

    buffer._cond.wait = wait

    def produce():
        if waiting.wait(30.0):
            buffer.put("frame")

    producer = threading.Thread(target=produce)
    producer.start()
    assert buffer.get(timeout=0.9) == ["frame"]
    producer.join(30.0)
