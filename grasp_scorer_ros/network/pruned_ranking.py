"""The best grasps by final score, with the scorer run only on the grasps that can still be among them.

The final score ``primary^(1-w) * scorer^w`` (:func:`~grasp_scorer_ros.network.model.weighted_product`)
can never exceed ``primary^(1-w)``, since the scorer's probability is at most 1. So once the
scorer has seen the ``n`` grasps of highest primary score, no other grasp can beat a final score
above ``p_n^(1-w)``, ``p_n`` being the best primary score not yet seen. :func:`top_grasps` scores
the primary score's top ``start`` grasps, and doubles that set until the ``k``-th best final score
is above the bound: the ``k`` grasps it returns, their order and their scores are then exactly those
of :func:`~grasp_scorer_ros.network.model.final_scores` over every grasp (up to the scorer's own
float rounding), usually after a few percent of the scorer's work.

``"top_t"`` needs the scorer on the T grasps of highest primary score only, by definition;
``"all"`` (the paper's ranking by the scorer alone) has no such bound and keeps the dense scorer.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from grasp_scorer_ros.network.model import ModelConfig, calibrated, weighted_product

DEFAULT_START = 64   # the scorer's training population T: the bound usually holds there


@dataclass
class TopGrasps:
    """``order`` ``(k,)``: flat grasp indices, best first; ``final`` and ``scorer`` their scores;
    ``scored``: how many grasps the scorer ran on."""

    order: torch.Tensor
    final: torch.Tensor
    scorer: torch.Tensor
    scored: int


def prunable(config: ModelConfig) -> bool:
    """Whether the final ranking lets the scorer skip grasps (see the module docstring)."""
    return config.final_ranking == "top_t" or (config.final_ranking == "product" and config.scorer_weight < 1.0)


def top_grasps(primary: torch.Tensor, score: Callable[[torch.Tensor], torch.Tensor], config: ModelConfig,
               k: int, start: int = DEFAULT_START) -> TopGrasps:
    """The ``k`` best grasps of one image by final score; ``primary`` ``(A,)`` probabilities,
    ``score(indices)`` the scorer's probabilities ``(len,)`` of those flat grasp indices."""
    if not prunable(config):
        raise ValueError(f"final ranking {config.final_ranking!r} (scorer weight {config.scorer_weight}) "
                         f"needs the scorer on every grasp")
    count = len(primary)
    k = max(1, min(int(k), count))
    by_primary = torch.argsort(primary, descending=True, stable=True)
    if config.final_ranking == "top_t":
        t = min(config.num_scored_grasps, count)
        scorer = score(by_primary[:t])
        # as final_scores: the T candidates by scorer (ties by primary), then the rest by primary at 0
        ranked = torch.argsort(scorer, descending=True, stable=True)
        order = torch.cat([by_primary[:t][ranked], by_primary[t:]])[:k]
        final = calibrated(torch.cat([scorer[ranked], torch.zeros(count - t, dtype=scorer.dtype)])[:k], config)
        scorer = torch.cat([scorer[ranked], torch.full((count - t,), float("nan"), dtype=scorer.dtype)])[:k]
        return TopGrasps(order, final, scorer, t)

    w = float(config.scorer_weight)
    n = min(max(int(start), k), count)
    scorer = score(by_primary[:n])
    while True:
        final = weighted_product(primary[by_primary[:n]], scorer, w)
        kth_best = torch.topk(final, k).values[-1]
        if n == count or kth_best > primary[by_primary[n]] ** (1.0 - w):
            break
        grown = min(2 * n, count)
        scorer = torch.cat([scorer, score(by_primary[n:grown])])
        n = grown
    # by_primary order + stable sort: ties go to the higher primary score, as in final_scores
    ranked = torch.argsort(final, descending=True, stable=True)[:k]
    return TopGrasps(by_primary[:n][ranked], calibrated(final[ranked], config), scorer[ranked], n)
