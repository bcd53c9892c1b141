"""The scorer of Depierre et al. (ICRA 2021), sect. IV-A.c: re-scores a grasp from its 3x3 feature
neighbourhood and its predicted deltas.

It exists in two equal forms: the literal per-grasp network of the paper (:meth:`Scorer.forward`
on 3x3 neighbourhoods and one-slot ``5k`` vectors; used for training on the T selected grasps and by
:func:`score_all_per_grasp`), and a dense form over the whole feature map (:meth:`Scorer.dense`),
which exploits that the scorer is linear up to the leaky ReLU after the concatenation.

Layouts are :mod:`grasp_scorer_ros.network.model`'s: features ``(B, C, H, W)``, deltas
``(B, H, W, k, 5)``, logits ``(..., 2)`` with class 1 = "grasp".
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def gather_neighbourhoods(features: torch.Tensor, batch_index: torch.Tensor, rows: torch.Tensor,
                          cols: torch.Tensor) -> torch.Tensor:
    """3x3 neighbourhoods ``(N, C, 3, 3)`` of cells ``(batch_index, rows, cols)`` of ``(B, C, H, W)``.

    The feature map is zero-padded by one cell, so border cells see zeros outside the map.
    """
    padded = F.pad(features, (1, 1, 1, 1))                         # (B, C, H+2, W+2)
    offsets = torch.arange(3, device=features.device)
    r = rows.view(-1, 1, 1) + offsets.view(1, 3, 1)                # (N, 3, 1), padded coordinates
    c = cols.view(-1, 1, 1) + offsets.view(1, 1, 3)                # (N, 1, 3)
    patches = padded[batch_index.view(-1, 1, 1), :, r, c]           # (N, 3, 3, C)
    return patches.permute(0, 3, 1, 2)                             # (N, C, 3, 3)


def delta_slot_vectors(deltas: torch.Tensor, anchor_index: torch.Tensor, num_orientations: int,
                       anchor_indicator: bool = False):
    """The scorer's grasp input: zeros except the slot of the grasp's anchor. ``(N, 5) -> (N, 5k)``.

    The paper's slot holds the 5 deltas, which tells the anchors apart only when the deltas are
    not near zero. With ``anchor_indicator`` each slot has a sixth entry, 1 in the grasp's slot,
    so the anchor (the grasp's orientation) is always visible: ``(N, 5) -> (N, 6k)``.
    """
    one_hot = F.one_hot(anchor_index, num_orientations).to(deltas.dtype)  # (N, k)
    if anchor_indicator:
        deltas = torch.cat([deltas, torch.ones_like(deltas[:, :1])], dim=1)  # (N, 6)
    return (one_hot.unsqueeze(-1) * deltas.unsqueeze(1)).flatten(1)       # (N, 5k) or (N, 6k)


class Scorer(nn.Module):
    """The scorer of sect. IV-A.c, layer for layer.

    3x3 neighbourhood -> 1x1 conv (1024) -> flatten (9216); one-slot 5k vector -> FC (512);
    concatenation (9728) -> FC (``hidden``) -> FC (2). Leaky ReLU (0.1) after every layer but the last.
    ``anchor_indicator``: one-slot 6k vectors instead (see :func:`delta_slot_vectors`).
    ``dropout``: dropout on the concatenation while training (the paper leaves regularisation open);
    :meth:`dense` scores at inference, without it.
    """

    def __init__(self, in_channels: int, num_orientations: int, conv_channels: int = 1024,
                 delta_width: int = 512, hidden: int = 512, negative_slope: float = 0.1,
                 anchor_indicator: bool = False, dropout: float = 0.0):
        super().__init__()
        self.dropout = nn.Dropout(dropout)  # on the 9728 concatenation, training only
        self.k = num_orientations
        self.negative_slope = negative_slope
        self.anchor_indicator = anchor_indicator
        self.slot_size = 6 if anchor_indicator else 5
        self.neighbourhood_conv = nn.Conv2d(in_channels, conv_channels, kernel_size=1)
        self.delta_fc = nn.Linear(self.slot_size * num_orientations, delta_width)
        self.image_vector_size = 9 * conv_channels                   # 9216
        self.hidden_fc = nn.Linear(self.image_vector_size + delta_width, hidden)  # 9728 -> hidden
        self.score_fc = nn.Linear(hidden, 2)

    def _leaky(self, x):
        return F.leaky_relu(x, self.negative_slope)

    def slot_vectors(self, deltas: torch.Tensor, anchor_index: torch.Tensor) -> torch.Tensor:
        """This scorer's grasp input for deltas ``(N, 5)`` of anchors ``anchor_index`` ``(N,)``."""
        return delta_slot_vectors(deltas, anchor_index, self.k, self.anchor_indicator)

    def forward(self, neighbourhoods: torch.Tensor, delta_vectors: torch.Tensor) -> torch.Tensor:
        """Per-grasp scoring: ``(N, C, 3, 3)``, ``(N, 5k)`` (see :meth:`slot_vectors`) -> logits ``(N, 2)``."""
        image = self._leaky(self.neighbourhood_conv(neighbourhoods)).flatten(1)  # (N, 9216)
        grasp = self._leaky(self.delta_fc(delta_vectors))                        # (N, 512)
        hidden = self._leaky(self.hidden_fc(self.dropout(torch.cat([image, grasp], dim=1))))  # (N, hidden)
        return self.score_fc(hidden)                                            # (N, 2)

    def dense(self, features: torch.Tensor, deltas: torch.Tensor) -> torch.Tensor:
        """Score every anchor's grasp at once: ``(B, C, H, W)``, ``(B, H, W, k, 5)`` -> ``(B, H, W, k, 2)``.

        Equal to :meth:`forward` on every grasp: the image half of ``hidden_fc`` is a 3x3 convolution
        over the (zero-padded, 1x1-convolved) map, computed once per cell; the grasp half is applied
        per anchor through the anchor's 5 columns of ``delta_fc``.
        """
        b, h, w, k, _ = deltas.shape
        image = self._leaky(self.neighbourhood_conv(F.pad(features, (1, 1, 1, 1))))  # (B, 1024, H+2, W+2)
        hidden_size = self.hidden_fc.out_features
        image_weight = self.hidden_fc.weight[:, :self.image_vector_size]
        image_weight = image_weight.reshape(hidden_size, -1, 3, 3)                  # (hidden, 1024, 3, 3)
        image_hidden = F.conv2d(image, image_weight, self.hidden_fc.bias)           # (B, hidden, H, W)

        slot_weight = self.delta_fc.weight.reshape(-1, k, self.slot_size)           # (512, k, 5|6)
        grasp = torch.einsum("bhwkm,okm->bhwko", deltas, slot_weight[..., :5]) + self.delta_fc.bias
        if self.anchor_indicator:
            grasp = grasp + slot_weight[..., 5].t()                                 # (k, 512) per anchor
        grasp = self._leaky(grasp)                                                  # (B, H, W, k, 512)
        grasp_hidden = grasp @ self.hidden_fc.weight[:, self.image_vector_size:].t()  # (B, H, W, k, hidden)

        hidden = self._leaky(image_hidden.permute(0, 2, 3, 1).unsqueeze(3) + grasp_hidden)
        return self.score_fc(hidden)                                                # (B, H, W, k, 2)

    def score_selected(self, features: torch.Tensor, deltas: torch.Tensor, batch_index: torch.Tensor,
                       rows: torch.Tensor, cols: torch.Tensor, anchor_index: torch.Tensor) -> torch.Tensor:
        """:meth:`score_anchors` for inference on a few grasps: the same logits ``(N, 2)``, with
        the image half computed once per distinct cell, as :meth:`dense` does for all of them.

        The 1x1 conv runs on the union of the cells' 3x3 neighbourhoods in the zero-padded map (as
        in :meth:`dense`, a padding cell gives the conv's bias), the image half of ``hidden_fc``
        once per cell; only the grasp half is per grasp.
        """
        b, c, h, w = features.shape
        cell = (batch_index * h + rows) * w + cols
        cells, grasp_cell = torch.unique(cell, return_inverse=True)               # (U,), (N,)
        cell_b, cell_r, cell_c = cells // (h * w), (cells // w) % h, cells % w
        offsets = torch.arange(3, device=features.device)
        padded_rows = cell_r.view(-1, 1, 1) + offsets.view(1, 3, 1)               # (U, 3, 1)
        padded_cols = cell_c.view(-1, 1, 1) + offsets.view(1, 1, 3)               # (U, 1, 3)
        position = (cell_b.view(-1, 1, 1) * (h + 2) + padded_rows) * (w + 2) + padded_cols  # (U, 3, 3)
        positions, neighbour = torch.unique(position.reshape(-1), return_inverse=True)
        padded = F.pad(features, (1, 1, 1, 1)).permute(0, 2, 3, 1).reshape(-1, c)  # (B*(H+2)*(W+2), C)
        conv_channels = self.neighbourhood_conv.out_channels
        mapped = self._leaky(F.linear(padded[positions], self.neighbourhood_conv.weight.view(conv_channels, c),
                                      self.neighbourhood_conv.bias))            # (P, 1024)
        # (U*9, 1024) in (cell, row, col) order -> (U, 1024 * 9) in forward()'s flatten order
        image = mapped[neighbour].view(len(cells), 9, conv_channels).transpose(1, 2).reshape(len(cells), -1)
        image_hidden = F.linear(image, self.hidden_fc.weight[:, :self.image_vector_size], self.hidden_fc.bias)
        selected = deltas[batch_index, rows, cols, anchor_index]                   # (N, 5)
        grasp = self._leaky(self.delta_fc(self.slot_vectors(selected, anchor_index)))  # (N, 512)
        grasp_hidden = grasp @ self.hidden_fc.weight[:, self.image_vector_size:].t()  # (N, hidden)
        return self.score_fc(self._leaky(image_hidden[grasp_cell] + grasp_hidden))  # (N, 2)

    def score_flat(self, features: torch.Tensor, deltas: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """:meth:`score_selected` on one image's grasps given by flat index into ``(H, W, k)`` -> ``(N, 2)``."""
        _, _, width, k, _ = deltas.shape
        return self.score_selected(features, deltas, torch.zeros_like(index), index // (width * k),
                                   (index // k) % width, index % k)

    def score_anchors(self, features: torch.Tensor, deltas: torch.Tensor, batch_index: torch.Tensor,
                      rows: torch.Tensor, cols: torch.Tensor, anchor_index: torch.Tensor) -> torch.Tensor:
        """Per-grasp scoring of the anchors ``[batch_index, rows, cols, anchor_index]`` -> ``(N, 2)``."""
        neighbourhoods = gather_neighbourhoods(features, batch_index, rows, cols)
        selected = deltas[batch_index, rows, cols, anchor_index]                   # (N, 5)
        return self(neighbourhoods, self.slot_vectors(selected, anchor_index))


def score_all_per_grasp(scorer: Scorer, features: torch.Tensor, deltas: torch.Tensor,
                        chunk_size: int = 2400) -> torch.Tensor:
    """Every grasp through the literal per-grasp scorer, ``chunk_size`` at a time -> ``(B, H, W, k, 2)``.

    The straightforward (slow) reference for :meth:`Scorer.dense`.
    """
    b, h, w, k, _ = deltas.shape
    flat = torch.arange(b * h * w * k, device=deltas.device)
    logits = []
    for chunk in flat.split(chunk_size):
        bi, rest = chunk // (h * w * k), chunk % (h * w * k)
        rows, cols, anchor = rest // (w * k), (rest // k) % w, rest % k
        logits.append(scorer.score_anchors(features, deltas, bi, rows, cols, anchor))
    return torch.cat(logits).reshape(b, h, w, k, 2)
