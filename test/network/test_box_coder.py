"""Eq. 2 coding (network/box_coder.py) around the oriented anchors (their own tests: test_anchors.py)."""
import numpy as np
import pytest
import torch

from grasp_scorer_ros.network import box_coder
from grasp_scorer_ros.network.anchors import anchor_angles
from grasp_scorer_ros.grasp import angle_difference


def _anchors(n, k=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * 320
    wh = torch.tensor([[91.0, 26.0]]).expand(n, 2)
    theta = anchor_angles(k)[torch.randint(0, k, (n,), generator=g)]
    return torch.cat([xy, wh, theta[:, None]], dim=1)


def test_decode_encode_round_trip_on_deltas():
    k = 6
    anchors = _anchors(500, k)
    g = torch.Generator().manual_seed(1)
    deltas = torch.randn(500, 5, generator=g) * torch.tensor([0.5, 0.5, 0.7, 0.7, 1.0])
    deltas[:, 4] = deltas[:, 4].clamp(-2.9, 2.9)  # |dtheta| * 30 < 90: the unique shortest rotation
    back = box_coder.encode(box_coder.decode(deltas, anchors, k), anchors, k)
    torch.testing.assert_close(back, deltas, atol=1e-4, rtol=1e-4)


def test_encode_decode_round_trip_on_grasps():
    k = 6
    anchors = _anchors(300, k, seed=2)
    g = torch.Generator().manual_seed(3)
    grasps = torch.cat([anchors[:, :2] + torch.randn(300, 2, generator=g) * 10,
                        torch.rand(300, 2, generator=g) * 100 + 5,
                        torch.rand(300, 1, generator=g) * 180 - 90], dim=1)
    back = box_coder.decode(box_coder.encode(grasps, anchors, k), anchors, k)
    torch.testing.assert_close(back[:, :4], grasps[:, :4], atol=1e-3, rtol=1e-4)
    assert np.all(angle_difference(back[:, 4].numpy(), grasps[:, 4].numpy()) < 1e-3)


def test_eq2_by_hand():
    anchor = torch.tensor([100.0, 50.0, 80.0, 20.0, 15.0])
    delta = torch.tensor([0.5, -1.0, float(np.log(2.0)), 0.0, 1.0])
    grasp = box_coder.decode(delta, anchor, 6)
    # x uses the anchor width, y its height, theta steps by 180/k = 30 degrees.
    torch.testing.assert_close(grasp, torch.tensor([140.0, 30.0, 160.0, 20.0, 45.0]))


def test_decoded_angle_wraps_and_target_takes_shortest_rotation():
    anchor = torch.tensor([0.0, 0.0, 10.0, 10.0, 75.0])
    assert box_coder.decode(torch.tensor([0, 0, 0, 0, 1.0]), anchor, 6)[4].item() == pytest.approx(-75.0)
    # -85 is 20 degrees from 75 the short way round (75 -> 95 = -85), not -160.
    target = box_coder.encode(torch.tensor([0, 0, 10.0, 10.0, -85.0]), anchor, 6)
    assert target[4].item() == pytest.approx(20.0 / 30.0)


def test_exponent_is_clamped():
    anchor = torch.tensor([0.0, 0.0, 10.0, 10.0, 15.0])
    grasp = box_coder.decode(torch.tensor([0.0, 0.0, 1e4, 1e4, 0.0]), anchor, 6)
    assert torch.isfinite(grasp).all()
    assert grasp[2].item() == pytest.approx(10.0 * np.exp(box_coder.DEFAULT_EXP_CLAMP), rel=1e-5)


