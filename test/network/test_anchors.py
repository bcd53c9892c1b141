"""The oriented anchors (network/anchors.py): their angles, the grid, the mean grasp size."""
import numpy as np
import pytest
import torch

from grasp_scorer_ros.network.anchors import anchor_angles, grid_anchors, mean_grasp_size


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
