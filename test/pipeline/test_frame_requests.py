"""Grasps on request (``grasp/detect``): the first frame taken at or after a given time, or a clear
error. The matching rules alone (pipeline/frame_requests.py), then the detection node over a real graph."""
import threading
import time

import pytest

from ros_helpers import spin_until
from test_detection_node import calibration_file, checkpoint, graph, image_message, scene  # noqa: F401 (fixtures)

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


# -- the detection node's service -----------------------------------------------------------------------
class Requester:
    """Calls grasp/detect from the graph's peer node, as a pick cycle would."""

    def __init__(self, g):
        from grasp_scorer_ros.srv import DetectGrasps
        self.g, self.type = g, DetectGrasps
        self.client = g.peer.create_client(DetectGrasps, "/grasp/detect")
        assert spin_until(g.executor, self.client.service_is_ready, timeout=10)

    def call(self, not_before_s=0, timeout=10.0, count=0):
        request = self.type.Request(timeout=float(timeout), count=count)
        request.not_before.sec = not_before_s
        future = self.client.call_async(request)
        # Registered before any frame is sent, so that the test decides which frame answers.
        assert spin_until(self.g.executor, lambda: self.g.node.requests.wanted() > 0 or future.done(), timeout=10)
        return future

    def result(self, future, timeout=20.0):
        assert spin_until(self.g.executor, future.done, timeout=timeout)
        return future.result()


def test_the_service_answers_from_the_first_frame_taken_after_the_given_time(graph):
    g = graph()
    requester = Requester(g)
    future = requester.call(not_before_s=1000, count=3)
    g.deliver(image_message(scene(1), stamp_sec=999))        # taken before: no answer from it
    assert g.wait_idle() and not future.done()
    g.deliver(image_message(scene(2), stamp_sec=1001))
    response = requester.result(future)
    assert response.success, response.message
    assert response.header.stamp.sec == 1001 and response.header.frame_id == "robot_base"
    assert len(response.grasps) == 3 and response.ranked >= 3
    assert response.message.startswith("3 grasp(s): those with a pose that reach score_threshold 0")
    scores = [grasp.score for grasp in response.grasps]
    assert scores == sorted(scores, reverse=True)
    # grasps[0] is what grasp/best published for that very frame.
    assert spin_until(g.executor, lambda: any(b.header.stamp.sec == 1001 for b in g.best), timeout=10)
    best = next(b for b in g.best if b.header.stamp.sec == 1001)
    assert response.grasps[0].pose == best.pose and response.grasps[0].score == best.score

    # More grasps than the stream's num_candidates (4): the request gets them, the stream keeps its 4.
    future = requester.call(not_before_s=1002, count=12)
    g.deliver(image_message(scene(3), stamp_sec=1002))
    response = requester.result(future)
    assert response.success and len(response.grasps) == 12
    assert spin_until(g.executor, lambda: any(c.header.stamp.sec == 1002 for c in g.candidates), timeout=10)
    assert len(next(c for c in g.candidates if c.header.stamp.sec == 1002).candidates) == 4


def test_a_request_without_a_time_needs_a_frame_taken_after_it(graph):
    g = graph()
    requester = Requester(g)
    future = requester.call(timeout=20.0)     # not_before zero: the time the node received it
    now = g.node.get_clock().now().seconds_nanoseconds()[0]
    g.deliver(image_message(scene(1), stamp_sec=now - 10))
    assert g.wait_idle() and not future.done()
    g.deliver(image_message(scene(2), stamp_sec=now + 2))
    response = requester.result(future)
    assert response.success and response.header.stamp.sec == now + 2


def test_failed_requests_say_why_and_the_node_goes_on(graph):
    g = graph(score_threshold=1.0)
    requester = Requester(g)
    response = requester.result(requester.call(not_before_s=50, timeout=0.3))
    assert not response.success and "no frame was processed within 0.3 s" in response.message
    assert "/image" in response.message

    future = requester.call(not_before_s=50, timeout=3.0)
    broken = image_message(scene(1), stamp_sec=60)
    broken.encoding = "32FC9"
    g.deliver(broken)
    response = requester.result(future)
    assert not response.success and "refused: image rejected" in response.message, response.message

    bad = requester.result(requester.call(count=101, timeout=1.0))
    assert not bad.success and "count must be" in bad.message

    # A frame that answers, but no grasp reaches score_threshold 1.0: success, no grasp, and why.
    future = requester.call(not_before_s=70)
    g.deliver(image_message(scene(2), stamp_sec=70))
    response = requester.result(future)
    assert response.success and response.grasps == [] and response.ranked > 0
    assert "no grasp reaches score_threshold 1" in response.message
    assert any(reason.startswith("grasp request failed") for reason in g.node.rejections)
