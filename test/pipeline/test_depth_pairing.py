"""A colour frame's depth: the nearest depth frame in stamp, within depth_max_age, decoded."""
import numpy as np

from grasp_scorer_ros.camera.depth import DepthFormatError
from grasp_scorer_ros.pipeline.depth_pairing import DepthPairing

S = 1_000_000_000


def decode(message):
    if message == "bad":
        raise DepthFormatError("unsupported depth encoding 'rgb8'")
    return np.full((2, 2), message, np.float32)


def test_the_nearest_frame_within_the_age_is_paired_and_decoded():
    pairing = DepthPairing(decode, "/depth", kept=3)
    depth, why = pairing.depth_for(10 * S, 0.1)
    assert depth is None and why == "no depth frame received on /depth"
    for second, value in ((9.0, 0.9), (10.04, 1.0), (10.2, 1.2)):
        pairing.add(int(second * S), value)
    depth, why = pairing.depth_for(10 * S, 0.1)
    assert why == "" and float(depth[0, 0]) == np.float32(1.0)
    depth, why = pairing.depth_for(11 * S, 0.1)
    assert depth is None and "nearest 0.800 s" in why
    for second in (12, 13, 14):         # only the newest `kept` stay
        pairing.add(second * S, float(second))
    assert pairing.depth_for(10 * S, 5.0)[0][0, 0] == 12.0


def test_a_depth_frame_that_cannot_be_decoded_is_refused_with_its_reason():
    pairing = DepthPairing(decode)
    pairing.add(5 * S, "bad")
    depth, why = pairing.depth_for(5 * S, 0.1)
    assert depth is None and why == "depth rejected: unsupported depth encoding 'rgb8'"


def test_a_depth_frame_still_on_its_way_is_waited_for():
    import threading
    pairing = DepthPairing(decode)
    pairing.add(9 * S, 0.9)                           # the previous frame's depth, 1 s old
    threading.Timer(0.05, lambda: pairing.add(10 * S, 1.0)).start()
    depth, why = pairing.depth_for(10 * S, 0.1, wait_s=2.0)
    assert why == "" and float(depth[0, 0]) == np.float32(1.0)
    depth, why = pairing.depth_for(20 * S, 0.1, wait_s=0.05)      # none comes: refused after the wait
    assert depth is None and "nearest" in why
