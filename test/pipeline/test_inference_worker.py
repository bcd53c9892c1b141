"""The inference worker: the detector built on its thread, the newest frame only, errors survived."""
import threading
import time

import pytest

from grasp_scorer_ros.pipeline.inference_worker import InferenceWorker, RecentTimes


def test_the_detector_is_built_and_warmed_on_the_worker_and_frames_are_taken_newest_first():
    threads, processed, gate = {}, [], threading.Event()

    def make():
        threads["built"] = threading.current_thread().name
        return "detector"

    def process(frame):
        threads.setdefault("processed", threading.current_thread().name)
        gate.wait(5)
        processed.append(frame)

    worker = InferenceWorker(make, lambda d: threads.setdefault("warmed", d), process, lambda f, e: None)
    assert worker.start() == "detector"
    assert threads["built"] == "grasp_inference" and threads["warmed"] == "detector"
    assert worker.submit(1) is False                # taken at once: the worker blocks in it
    deadline = time.monotonic() + 5
    while worker.waiting and time.monotonic() < deadline:
        time.sleep(0.005)
    assert worker.submit(2) is False and worker.submit(3) is True   # 2 replaced by 3: dropped
    gate.set()
    deadline = time.monotonic() + 5
    while len(processed) < 2 and time.monotonic() < deadline:
        time.sleep(0.005)
    worker.stop()
    assert processed == [1, 3] and threads["processed"] == "grasp_inference"


def test_a_start_up_error_is_raised_by_start_and_a_frame_error_does_not_stop_the_worker():
    def broken():
        raise FileNotFoundError("checkpoint not found: /nope.pt")
    with pytest.raises(FileNotFoundError, match="nope"):
        InferenceWorker(broken, lambda d: None, lambda f: None, lambda f, e: None).start()
    errors, done = [], []

    def process(frame):
        if frame == "bad":
            raise ValueError("bad frame")
        done.append(frame)
    worker = InferenceWorker(lambda: None, lambda d: None, process, lambda f, e: errors.append((f, str(e))))
    worker.start()
    worker.submit("bad")
    deadline = time.monotonic() + 5
    while not errors and time.monotonic() < deadline:
        time.sleep(0.005)
    worker.submit("good")
    while not done and time.monotonic() < deadline:
        time.sleep(0.005)
    worker.stop()
    assert errors == [("bad", "bad frame")] and done == ["good"]


def test_recent_times_keep_a_bounded_window():
    times = RecentTimes(size=3)
    for seconds in (1.0, 0.010, 0.020, 0.030):
        times.add(seconds)
    assert len(times) == 3 and times.median_ms() == pytest.approx(20.0) and times.max_ms() == pytest.approx(30.0)
