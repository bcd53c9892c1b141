"""Rejections counted by the kind of their reason, the first of each said in full."""
from grasp_scorer_ros.pipeline.rejections import RejectionCounter, reason_key


def test_reasons_are_counted_by_kind_without_their_numbers():
    assert reason_key("image data is truncated: 12 of 691200 bytes") == "image data is truncated"
    assert reason_key("intrinsics are for 640x480 images") == "intrinsics are for 640x480 images"
    assert reason_key("unsupported encoding '16UC1' (supported ...)") == "unsupported encoding '16UC1'"
    assert reason_key("got 3 frames of 12") == "got N frames of N"
    firsts = []
    counter = RejectionCounter(lambda what, message, reason: firsts.append((what, message, reason)))
    for size in (12, 13, 14):
        counter.count("image rejected", f"image data is truncated: {size} bytes")
    counter.count("no depth", "no depth frame received on /d")
    assert dict(counter) == {"image rejected: image data is truncated": 3, "no depth: no depth frame received on /d": 1}
    assert counter["no depth: no depth frame received on /d"] == 1 and "other" not in counter
    assert firsts == [("image rejected", "image data is truncated: 12 bytes", "image rejected: image data is truncated"),
                      ("no depth", "no depth frame received on /d", "no depth: no depth frame received on /d")]
    assert counter.summary() == "image rejected: image data is truncated x3; no depth: no depth frame received on /d x1"
