"""Eq. 2 coding and the oriented anchors."""
import numpy as np
import pytest
import torch

from grasp_scorer_ros.network import box_coder
from grasp_scorer_ros.network.anchors import anchor_angles, grid_anchors, mean_grasp_size
from grasp_scorer_ros.grasp import (angle_difference, angle_difference_torch, normalize_angle,
                                    normalize_angle_torch)


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


def test_angle_functions_agree_in_numpy_and_torch():
    a = np.array([-270.0, -90.0, -89.5, -45.0, 0.0, 44.9, 89.999, 90.0, 135.0, 359.0])
    b = np.array([[0.0], [90.0], [-75.0], [170.0]])
    expected = angle_difference(a, b)                                    # (4, 10), broadcast
    got = angle_difference_torch(torch.tensor(a), torch.tensor(b))
    np.testing.assert_allclose(got.numpy(), expected, atol=1e-9)
    assert got.min() >= 0 and got.max() <= 90
    np.testing.assert_allclose(normalize_angle_torch(torch.tensor(a)).numpy(), normalize_angle(a))
    theta = torch.tensor([100.0, -100.0], requires_grad=True)          # gradients pass through
    angle_difference_torch(theta, torch.zeros(2)).sum().backward()
    assert theta.grad.tolist() == [-1.0, 1.0]


def test_anchor_angles_and_grid():
    torch.testing.assert_close(anchor_angles(6), torch.tensor([-75.0, -45.0, -15.0, 15.0, 45.0, 75.0]))
    anchors = grid_anchors(20, 20, 16, 91.0, 26.0, 6)
    assert anchors.shape == (20, 20, 6, 5)
    assert anchors.reshape(-1, 5).shape[0] == 2400
    # [i, j] is row i (y), column j (x), centred in the 16-pixel cell.
    torch.testing.assert_close(anchors[3, 7, 2], torch.tensor([7.5 * 16, 3.5 * 16, 91.0, 26.0, -15.0]))
    assert torch.all(anchors[..., 2] == 91.0) and torch.all(anchors[..., 3] == 26.0)
    assert anchors[..., 0].max().item() == pytest.approx(312.0)


def test_mean_grasp_size():
    sets = [np.array([[0, 0, 10, 2, 0], [0, 0, 30, 4, 45]]), np.zeros((0, 5)), np.array([[1, 1, 20, 6, 0]])]
    assert mean_grasp_size(sets) == pytest.approx((20.0, 4.0))
    with pytest.raises(ValueError):
        mean_grasp_size([np.zeros((0, 5))])
