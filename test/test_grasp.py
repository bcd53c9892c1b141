"""The grasp convention's angle functions (grasp.py): numpy and torch agree, and gradients pass."""
import numpy as np
import torch

from grasp_scorer_ros.grasp import (angle_difference, angle_difference_torch, normalize_angle,
                                    normalize_angle_torch)


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
