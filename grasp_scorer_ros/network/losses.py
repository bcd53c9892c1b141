"""Training targets and losses of Depierre et al. (ICRA 2021), sect. IV-B and IV-C.

* ``intermediate`` (Eq. 3): softmax cross-entropy of the primary score on P positives and
  ``negative_ratio * P`` negatives per image. Positives come from *angle matching*: the anchor's cell
  contains a ground-truth centre and their angle difference is under ``positive_angle_threshold``.
  Negatives are the other anchors with the highest predicted grasp probability (hard negative
  mining, as in SSD-style detectors: the 3:1 ratio presumes it); an image without ground truth still
  gives ``negative_ratio`` negatives.
* ``regression_l1`` (first term of Eq. 5): ``alpha`` x smooth L1 between the positives' deltas and
  the inverse-Eq. 2 targets, summed over the 5 values, averaged over positives.
* ``scorer`` (Eq. 4): cross-entropy of the scorer on T grasps per image: the T anchors with the
  highest primary score ("full") or the highest final score ("no_selection"), decoded and labelled
  by *Jaccard matching* (``scorer_angle_threshold``, ``scorer_iou_threshold``).
* ``regression_scorer`` (second term of Eq. 5): ``-mean log p_s`` over the same T grasps.

Gradient routing (sect. IV-B): ``scorer`` sees the deltas detached, so it updates the scorer and
the FE but never the PGP; ``regression_scorer`` runs the scorer with detached parameters and a
detached neighbourhood, so it updates the PGP and, through the PGP's deltas, the FE, but never the
scorer. The baseline variant has no scorer: both scorer
terms are zero.
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch.func import functional_call

from grasp_scorer_ros.grasp import angle_difference_torch
from grasp_scorer_ros.network import box_coder
from grasp_scorer_ros.network.metric import best_iou, match_grasps
from grasp_scorer_ros.network.model import FEATURE_STRIDE, GRASP, ModelConfig
from grasp_scorer_ros.network.scorer import Scorer, gather_neighbourhoods


def angle_matching(ground_truths: torch.Tensor, anchors: torch.Tensor, stride: float,
                   angle_threshold: float) -> torch.Tensor:
    """Positive anchors by angle matching: ``(N, 5)`` grasps, ``(H, W, k, 5)`` anchors -> ``(H, W, k)``.

    Each entry is the index of the ground truth an anchor regresses to, or -1 for no match. An anchor
    matches a ground truth whose centre lies in the anchor's cell and whose angle differs from the
    anchor's by less than ``angle_threshold`` degrees (mod 180). When several ground truths match one
    anchor, the one with the smallest angle difference wins (then the lowest index).
    """
    h, w, k, _ = anchors.shape
    matched = torch.full((h * w * k,), -1, dtype=torch.long, device=anchors.device)
    gt = ground_truths.to(device=anchors.device, dtype=anchors.dtype).reshape(-1, 5)
    if len(gt) == 0:
        return matched.view(h, w, k)
    rows = torch.floor(gt[:, 1] / stride).long()
    cols = torch.floor(gt[:, 0] / stride).long()
    inside = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w) & (gt[:, 2] > 0) & (gt[:, 3] > 0)
    difference = angle_difference_torch(gt[:, 4:5], anchors[0, 0, :, 4].view(1, k))  # (N, k)
    candidate = (difference < angle_threshold) & inside.view(-1, 1)
    gt_index, anchor_index = torch.nonzero(candidate, as_tuple=True)
    if len(gt_index) == 0:
        return matched.view(h, w, k)
    flat = (rows[gt_index] * w + cols[gt_index]) * k + anchor_index
    diff = difference[gt_index, anchor_index]
    best = torch.full((h * w * k,), float("inf"), device=anchors.device, dtype=diff.dtype)
    best = best.scatter_reduce(0, flat, diff, reduce="amin")
    keep = diff == best[flat]
    first = torch.full((h * w * k,), len(gt), dtype=torch.long, device=anchors.device)
    first = first.scatter_reduce(0, flat[keep], gt_index[keep], reduce="amin")
    return torch.where(first < len(gt), first, matched).view(h, w, k)


def sample_primary_targets(matched: torch.Tensor, grasp_probability: torch.Tensor, negative_ratio: int,
                           sampling: str = "hardest", is_good=None) -> Tuple[torch.Tensor, torch.Tensor]:
    """The anchors of Eq. 3 for one image: all P positives and up to ``negative_ratio * max(P, 1)``
    negatives.

    ``matched`` and ``grasp_probability`` are flat ``(A,)``. Negatives are the non-positive anchors
    with the highest grasp probability (``sampling="hardest"``, Zhou et al.'s code) or drawn at
    random (``"random"``, the paper's text; torch's global generator). ``is_good(indices) -> bool
    mask``, when given, vetoes candidates that are in fact good grasps (clean targets): they are
    neither positive nor negative. Returns flat indices and 0/1 labels.
    """
    positive = matched >= 0
    num_positive = int(positive.sum())
    wanted = min(negative_ratio * max(num_positive, 1), int((~positive).sum()))
    if sampling == "hardest":
        score = grasp_probability.detach().masked_fill(positive, -1.0)
        candidates = torch.argsort(score, descending=True, stable=True)[:int((~positive).sum())]
    elif sampling == "random":
        pool = torch.nonzero(~positive, as_tuple=True)[0]
        candidates = pool[torch.randperm(len(pool), device=pool.device)]
    else:
        raise ValueError(f"negative sampling must be 'hardest' or 'random', got {sampling!r}")
    if is_good is None:
        negatives = candidates[:wanted]
    else:  # vet half as many again as needed, in order, and keep the first clean ones
        pool = candidates[:wanted + wanted // 2 + 16]
        negatives = pool[~is_good(pool)][:wanted]
    positives = torch.nonzero(positive, as_tuple=True)[0]
    index = torch.cat([positives, negatives])
    labels = torch.cat([torch.ones_like(positives), torch.zeros_like(negatives)])
    return index, labels


def binary_auc(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """Area under the ROC curve of ``scores`` for 0/1 ``labels`` (Mann-Whitney, ties count half);
    NaN when only one class is present."""
    labels = labels.bool()
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    s = scores.detach().float()
    greater = (s[labels][:, None] > s[~labels][None, :]).float().sum()
    ties = (s[labels][:, None] == s[~labels][None, :]).float().sum()
    return float((greater + 0.5 * ties) / (n_pos * n_neg))


def binary_entropy(rate: float) -> float:
    """Cross-entropy (nats) of the best constant predictor for a label rate ``rate``."""
    if rate <= 0.0 or rate >= 1.0:
        return 0.0
    return float(-(rate * np.log(rate) + (1 - rate) * np.log(1 - rate)))


def jaccard_labels(grasps: torch.Tensor, ground_truths: torch.Tensor, angle_threshold: float,
                   iou_threshold: float) -> torch.Tensor:
    """Scorer labels: 1 for each decoded grasp ``(T, 5)`` that Jaccard-matches a ground truth."""
    hits = match_grasps(grasps.detach().float().cpu().numpy(),
                        ground_truths.detach().float().cpu().numpy(), angle_threshold, iou_threshold)
    return torch.from_numpy(hits.astype(np.int64)).to(grasps.device)


def scorer_targets(grasps: torch.Tensor, ground_truths, config: ModelConfig):
    """Targets of Eq. 4 for decoded grasps ``(B, N, 5)``: the Jaccard labels ``(B*N,)`` (0/1), and
    what the cross-entropy is taken against: those labels (``scorer_labels == "jaccard"``, the
    paper) or, with ``"iou"``, class probabilities ``(B*N, 2)`` whose grasp column rises from 0 at
    the Jaccard IoU threshold to 1 at ``scorer_soft_iou`` (best IoU over the ground truths within
    the angle threshold): a graded target that says how good a grasp is, not only whether it
    passes."""
    b = grasps.shape[0]
    labels = torch.cat([jaccard_labels(grasps[i], ground_truths[i], config.scorer_angle_threshold,
                                       config.scorer_iou_threshold) for i in range(b)])
    if config.scorer_labels == "jaccard":
        return labels, labels
    iou = np.concatenate([best_iou(grasps[i].detach().float().cpu().numpy(),
                                   ground_truths[i].detach().float().cpu().numpy(),
                                   config.scorer_angle_threshold) for i in range(b)])
    lo, hi = config.scorer_iou_threshold, config.scorer_soft_iou
    quality = torch.from_numpy(np.clip((iou - lo) / (hi - lo), 0.0, 1.0)).float().to(grasps.device)
    return labels, torch.stack([1.0 - quality, quality], dim=1)


def _check_targets(targets, batch_size: int):
    if targets is None:
        raise ValueError("training losses need targets: a list of (N_i, 5) grasp tensors per image")
    if len(targets) != batch_size:
        raise ValueError(f"got {len(targets)} target tensors for a batch of {batch_size} images")
    for i, t in enumerate(targets):
        if t is None:
            raise ValueError(f"target {i} is missing")
        if not torch.is_tensor(t) or (t.numel() and (t.dim() != 2 or t.shape[-1] != 5)):
            raise ValueError(f"target {i} must be a (N, 5) tensor, got "
                             f"{tuple(t.shape) if torch.is_tensor(t) else type(t).__name__}")


def select_scored_anchors(outputs: Dict[str, torch.Tensor], config: ModelConfig,
                          scorer: Optional[Scorer]) -> torch.Tensor:
    """Flat anchor indices ``(B, T)`` of the grasps that train the scorer.

    "full": the T highest primary scores; "no_selection": every grasp is scored (densely, without
    gradient) and the T highest final scores are kept.
    """
    b = outputs["deltas"].shape[0]
    with torch.no_grad():
        if config.variant == "no_selection":
            logits = scorer.dense(outputs["features"], outputs["deltas"])
        else:
            logits = outputs["primary_logits"]
        score = torch.softmax(logits.float(), dim=-1)[..., GRASP].reshape(b, -1)  # (B, A)
        t = min(config.num_scored_grasps, score.shape[1])
        return torch.topk(score, t, dim=1).indices                                # (B, T)


def compute_losses(outputs: Dict[str, torch.Tensor], targets: Sequence[torch.Tensor],
                   config: ModelConfig, scorer: Optional[Scorer],
                   scorer_term_weight: float = 1.0, measure_direction: bool = True) -> Dict[str, torch.Tensor]:
    """Named losses ``intermediate``, ``regression_l1``, ``regression_scorer``, ``scorer``, ``total``,
    and, for models with a scorer, its competence on the T selected grasps (not losses, no gradient):
    ``scorer_auc``, ``label_rate`` and ``label_entropy`` (the cross-entropy of a constant predictor;
    ``scorer`` below it means the scorer has learned something).

    ``outputs`` is :meth:`GraspScorerNet.forward`'s dict; ``targets`` a list (one per image) of
    ground-truth grasps ``(N_i, 5)`` in network-input pixels (``N_i`` may be 0).
    ``scorer_term_weight`` multiplies the scorer term of Eq. 5 in ``total`` (1: the paper).
    ``measure_direction``: also report ``direction`` (see :func:`_ascent_direction`; it costs a
    backward pass through the scorer and IoU computations).
    """
    features, anchors = outputs["features"], outputs["anchors"]
    deltas = outputs["deltas"].float()                        # (B, H, W, k, 5)
    primary_logits = outputs["primary_logits"].float()        # (B, H, W, k, 2)
    b, h, w, k, _ = deltas.shape
    _check_targets(targets, b)
    anchors = anchors.float()
    flat_anchors = anchors.reshape(-1, 5)                     # (A, 5)
    flat_deltas = deltas.reshape(b, -1, 5)                    # (B, A, 5)
    flat_logits = primary_logits.reshape(b, -1, 2)            # (B, A, 2)
    grasp_probability = torch.softmax(flat_logits.detach(), dim=-1)[..., GRASP]
    ground_truths = [t.to(device=deltas.device, dtype=torch.float32).reshape(-1, 5) for t in targets]

    # Eq. 3 and the smooth L1 term of Eq. 5, on angle-matched anchors.
    ce_terms, l1_terms = [], []
    for i in range(b):
        matched = angle_matching(ground_truths[i], anchors, FEATURE_STRIDE,
                                 config.positive_angle_threshold).reshape(-1)
        is_good = None
        if config.clean_negatives:
            is_good = good_grasp_test(flat_anchors, flat_deltas[i], ground_truths[i], config)
        index, labels = sample_primary_targets(matched, grasp_probability[i], config.negative_ratio,
                                               config.negative_sampling, is_good)
        ce_terms.append(F.cross_entropy(flat_logits[i, index], labels, reduction="none"))
        positives = torch.nonzero(matched >= 0, as_tuple=True)[0]
        if len(positives):
            target = box_coder.encode(ground_truths[i][matched[positives]], flat_anchors[positives], k)
            l1 = F.smooth_l1_loss(flat_deltas[i, positives], target, reduction="none").sum(dim=1)
            l1_terms.append(l1)
    intermediate = torch.cat(ce_terms).mean()
    if l1_terms:
        regression_l1 = config.alpha * torch.cat(l1_terms).mean()
    else:
        regression_l1 = flat_deltas.sum() * 0.0  # keeps the graph; no positive in this batch

    zero = primary_logits.sum() * 0.0
    scorer_loss, regression_scorer, competence = zero, zero, {}
    if scorer is not None and config.variant != "baseline":
        scorer_loss, regression_scorer, competence = _scorer_losses(
            features, flat_deltas, flat_anchors, ground_truths, outputs, config, scorer, measure_direction)
    total = intermediate + regression_l1 + scorer_term_weight * regression_scorer + scorer_loss
    return {"intermediate": intermediate, "regression_l1": regression_l1,
            "regression_scorer": regression_scorer, "scorer": scorer_loss, "total": total, **competence}


def good_grasp_test(flat_anchors, deltas, ground_truths, config: ModelConfig):
    """``is_good(indices)`` for :func:`sample_primary_targets`: True where the anchor's own box or
    its decoded grasp passes the rectangle metric (``negative_ignore_angle`` / ``_iou``) against a
    ground truth, i.e. where calling it a negative would teach the primary score a wrong label."""
    def is_good(indices: torch.Tensor) -> torch.Tensor:
        if len(indices) == 0 or len(ground_truths) == 0:
            return torch.zeros(len(indices), dtype=torch.bool, device=indices.device)
        boxes = flat_anchors[indices]
        decoded = box_coder.decode(deltas[indices].detach(), boxes, config.num_orientations)
        both = torch.cat([boxes, decoded]).detach().cpu().numpy()
        hits = match_grasps(both, ground_truths.detach().cpu().numpy(), config.negative_ignore_angle,
                            config.negative_ignore_iou)
        good = hits[:len(indices)] | hits[len(indices):]
        return torch.from_numpy(good).to(indices.device)
    return is_good


def _scorer_losses(features, flat_deltas, flat_anchors, ground_truths, outputs, config, scorer,
                   measure_direction=True):
    """Eq. 4 and the scorer term of Eq. 5 on the T selected grasps per image, with gradient routing;
    and the scorer's competence on them (AUC, label rate, constant-predictor entropy)."""
    b = flat_deltas.shape[0]
    _, _, h, w = features.shape
    k = config.num_orientations
    selected = select_scored_anchors(outputs, config, scorer)          # (B, T)
    t = selected.shape[1]
    batch_index = torch.arange(b, device=selected.device).repeat_interleave(t)
    flat = selected.reshape(-1)                                         # (B*T,)
    rows, cols, anchor_index = flat // (w * k), (flat // k) % w, flat % k
    deltas = flat_deltas[batch_index, flat]                             # (B*T, 5)

    with torch.no_grad():
        grasps = box_coder.decode(deltas, flat_anchors[flat], k).reshape(b, t, 5)
        labels, targets = scorer_targets(grasps, ground_truths, config)

    neighbourhoods = gather_neighbourhoods(features, batch_index, rows, cols)  # (B*T, C, 3, 3)
    neighbourhoods = neighbourhoods.to(scorer.neighbourhood_conv.weight.dtype)
    deltas = deltas.to(neighbourhoods.dtype)
    # L_scorer: deltas detached -> gradient reaches the scorer and the FE, never the PGP.
    logits = scorer(neighbourhoods, scorer.slot_vectors(deltas.detach(), anchor_index))
    scorer_loss = F.cross_entropy(logits.float(), targets)
    if config.scorer_jitter > 0:
        # Perturbed copies of the selected deltas, labelled like them: the scorer sees how its
        # score should change with the deltas, which is what the scorer term of Eq. 5 follows.
        j = config.scorer_jitter
        sigma = torch.tensor(config.scorer_jitter_sigma, device=deltas.device, dtype=deltas.dtype)
        noisy = deltas.detach().repeat(j, 1) + torch.randn(j * len(deltas), 5, device=deltas.device) * sigma
        with torch.no_grad():
            noisy_grasps = box_coder.decode(noisy.float(), flat_anchors[flat].repeat(j, 1), k)
            # (j, B, T, 5) -> (B, j*T, 5): each image's copies together, then back to noisy's order
            per_image = noisy_grasps.reshape(j, b, t, 5).transpose(0, 1).reshape(b, j * t, 5)
            _, noisy_targets = scorer_targets(per_image, ground_truths, config)
            noisy_targets = noisy_targets.reshape(b, j, t, *noisy_targets.shape[1:]).transpose(0, 1)
            noisy_targets = noisy_targets.reshape(j * b * t, *noisy_targets.shape[3:])
        noisy_logits = scorer(neighbourhoods.repeat(j, 1, 1, 1), scorer.slot_vectors(noisy, anchor_index.repeat(j)))
        scorer_loss = (scorer_loss + j * F.cross_entropy(noisy_logits.float(), noisy_targets)) / (1 + j)
    # Scorer term of L_reg: scorer parameters detached -> gradient reaches the PGP, and the FE
    # through the PGP. The neighbourhood is detached too: this term must improve the regressed
    # grasp, not teach the FE to make any neighbourhood look graspable to the scorer (that path
    # fought L_scorer and wrecked the primary score in training runs).
    frozen = {name: p.detach() for name, p in scorer.named_parameters()}
    logits_reg = functional_call(scorer, frozen, (neighbourhoods.detach(),
                                                  scorer.slot_vectors(deltas, anchor_index)))
    regression_scorer = -torch.log_softmax(logits_reg.float(), dim=-1)[:, GRASP].mean()
    rate = float(labels.float().mean())
    p_grasp = torch.softmax(logits.detach().float(), dim=-1)[:, GRASP]
    competence = {"scorer_auc": torch.tensor(binary_auc(p_grasp, labels)),
                  "label_rate": torch.tensor(rate), "label_entropy": torch.tensor(binary_entropy(rate))}
    if measure_direction:
        competence["direction"] = torch.tensor(_ascent_direction(
            scorer, frozen, neighbourhoods.detach(), deltas.detach(), anchor_index, flat_anchors[flat],
            ground_truths, batch_index, config))
    return scorer_loss, regression_scorer, competence


def _ascent_direction(scorer, frozen, neighbourhoods, deltas, anchor_index, anchors, ground_truths,
                      batch_index, config) -> float:
    """Does the scorer term of Eq. 5 pull the selected grasps towards the ground truth? The mean
    cosine, over the selected grasps that overlap a ground truth within twice the scorer's angle
    threshold, between the term's ascent direction in delta space (the gradient of log p_s) and
    the deltas that would reach that best-overlapping ground truth. In [-1, 1]: positive pulls
    towards the ground truth, negative away, 0 is no better than a random direction."""
    k = config.num_orientations
    d = deltas.float().clone().requires_grad_(True)
    logits = functional_call(scorer, frozen, (neighbourhoods.float(), scorer.slot_vectors(d, anchor_index)))
    grad, = torch.autograd.grad(torch.log_softmax(logits.float(), -1)[:, GRASP].sum(), d)
    cosines = []
    for i, gts in enumerate(ground_truths):
        rows = torch.nonzero(batch_index == i, as_tuple=True)[0]
        if len(gts) == 0 or len(rows) == 0:
            continue
        grasps = box_coder.decode(d.detach()[rows], anchors[rows].float(), k).cpu().numpy()
        _, best = best_iou(grasps, gts.detach().cpu().numpy(), 2 * config.scorer_angle_threshold,
                           return_index=True)
        found = torch.from_numpy(best >= 0).to(rows.device)
        if not found.any():
            continue
        rows, best = rows[found], torch.from_numpy(best[best >= 0]).to(rows.device)
        wanted = box_coder.encode(gts[best].float(), anchors[rows].float(), k) - d.detach()[rows]
        cosines.append(F.cosine_similarity(grad[rows], wanted, dim=1, eps=1e-12))
    return float(torch.cat(cosines).mean()) if cosines else 0.0
