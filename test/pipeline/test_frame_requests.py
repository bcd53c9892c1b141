"""Grasps on request (``grasp/detect``): the first frame taken at or after a given time, or a clear
error. The matching rules alone (pipeline/frame_requests.py); the detection node's service over a real
graph is tested in test/nodes/test_detection_node.py."""
import threading
import time

import pytest

S = 1_000_000_000   # ns per s


# -- the matching rules, without ROS ------------------------------------------------------------------
def _wait_in_thread(requests, *args):
    out = {}

    def run():
        try:
            out["result"] = requests.wait(*args)
        except Exception as error:   # the test looks at it
            out["error"] = error
    thread = threading.Thread(target=run)
    thread.start()
    assert _until(lambda: requests.wanted() > 0)
    return thread, out


def _until(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not condition():
        time.sleep(0.005)
    return condition()


def test_a_request_takes_the_first_frame_not_older_than_its_time():
    from grasp_scorer_ros.pipeline.frame_requests import FrameRequests
    requests = FrameRequests()
    thread, out = _wait_in_thread(requests, 100 * S, 3, 5.0)
    assert requests.wanted() == 3
    assert requests.serve(99 * S, 10, lambda count: ("old", count)) == 0      # taken before: not this one
    assert requests.serve(101 * S, 2, lambda count: ("few", count)) == 0      # ranked too few grasps
    assert requests.serve(101 * S, 5, lambda count: ("new", count)) == 1
    thread.join(5)
    assert out == {"result": ("new", 3)} and requests.wanted() == 0
    assert requests.serve(102 * S, 5, lambda count: "nobody") == 0            # served once only


def test_requests_with_different_times_are_served_by_their_own_frames():
    from grasp_scorer_ros.pipeline.frame_requests import FrameRequests
    requests = FrameRequests()
    early, early_out = _wait_in_thread(requests, 10 * S, 1, 5.0)
    late, late_out = _wait_in_thread(requests, 20 * S, 1, 5.0)
    requests.serve(15 * S, 5, lambda count: 15)
    early.join(5)
    assert early_out == {"result": 15} and late.is_alive()
    requests.serve(20 * S, 5, lambda count: 20)      # at the very time counts
    late.join(5)
    assert late_out == {"result": 20}


@pytest.mark.parametrize("frames, words", [
    ([], "no frame was processed within 0.2 s"),
    ([("serve", 8)], "the 1 frame(s) processed within 0.2 s were all taken before the requested time "
                     "(the newest 2.000 s before it)"),
    ([("fail", 12)], "the last one was refused: bad encoding"),
])
def test_a_request_that_no_usable_frame_reaches_says_why(frames, words):
    from grasp_scorer_ros.pipeline.frame_requests import FrameRequests, RequestTimeout
    requests = FrameRequests()
    thread, out = _wait_in_thread(requests, 10 * S, 1, 0.2)
    for kind, second in frames:
        if kind == "serve":
            requests.serve(second * S, 5, lambda count: "unused")
        else:
            requests.failed(second * S, "bad encoding")
    thread.join(5)
    assert isinstance(out.get("error"), RequestTimeout), out
    assert words in str(out["error"])
    assert requests.wanted() == 0      # a timed-out request leaves nothing behind


def test_a_frame_still_being_ranked_at_the_timeout_is_waited_for_and_named():
    from grasp_scorer_ros.pipeline.frame_requests import FrameRequests, RequestTimeout
    requests = FrameRequests()
    thread, out = _wait_in_thread(requests, 10 * S, 50, 0.3)
    requests.begin(11 * S, 50)                 # a new enough frame, ranked for enough grasps
    time.sleep(0.4)                            # past the timeout: the request still waits for it
    assert thread.is_alive()
    requests.serve(11 * S, 50, lambda count: ("late", count))
    thread.join(5)
    assert out == {"result": ("late", 50)}
    # one that does not finish within the timeout once more fails, and says the camera is fine
    thread, out = _wait_in_thread(requests, 20 * S, 50, 0.2)
    requests.begin(21 * S, 50)
    thread.join(5)
    assert isinstance(out.get("error"), RequestTimeout)
    assert "still being ranked for 50 grasps" in str(out["error"]) and "camera is fine" in str(out["error"])
    # a frame being ranked for fewer grasps, or taken too early, is not waited for
    requests.serve(21 * S, 50, lambda count: None)
    for stamp, ranked in ((31, 5), (29, 50)):
        started = time.monotonic()
        thread, out = _wait_in_thread(requests, 30 * S, 50, 0.2)
        requests.begin(stamp * S, ranked)
        thread.join(5)
        assert time.monotonic() - started < 0.39 and "still being ranked" not in str(out["error"])
        requests.serve(stamp * S, ranked, lambda count: None)
