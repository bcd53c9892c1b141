"""Intervals and paired tests for top-1 accuracies measured on the same images.

Two rankings evaluated on the same images (the scorer and the primary score of one model, or two
models) are compared image by image: ``b`` images only the first gets right, ``c`` only the second.
McNemar's exact test asks whether ``b`` and ``c`` differ by more than chance; a paired bootstrap over
images gives the 95% interval of the accuracy difference. A single accuracy gets a Wilson interval.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

Z95 = 1.959963984540054


def wilson_interval(correct: int, total: int, z: float = Z95) -> tuple[float, float]:
    """95% Wilson score interval of a proportion ``correct / total``."""
    if total <= 0:
        return (float("nan"), float("nan"))
    p = correct / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    return (max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half)))  # contains p despite rounding


def mcnemar_exact_p(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value: a binomial test of ``b`` against ``b + c`` fair coin flips."""
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(b, c) + 1)) / 2.0 ** n
    return min(1.0, 2.0 * tail)


def paired_bootstrap_interval(first: np.ndarray, second: np.ndarray, resamples: int = 10000,
                              seed: int = 0) -> tuple[float, float]:
    """95% percentile interval of ``mean(first) - mean(second)`` over images resampled in pairs."""
    first, second = np.asarray(first, dtype=float), np.asarray(second, dtype=float)
    if first.shape != second.shape or first.ndim != 1:
        raise ValueError(f"paired samples must be two vectors of equal length, got {first.shape} "
                         f"and {second.shape}")
    if len(first) == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    difference = first - second
    means = np.empty(resamples)
    for start in range(0, resamples, 1000):  # in blocks: bounded memory on large test sets
        count = min(1000, resamples - start)
        picks = rng.integers(len(difference), size=(count, len(difference)))
        means[start:start + count] = difference[picks].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return (float(low), float(high))


@dataclass
class PairedComparison:
    """``first`` vs ``second`` on the same images; accuracies and difference in [0, 1]."""
    first: str
    second: str
    images: int
    first_accuracy: float
    second_accuracy: float
    difference: float
    difference_interval: tuple[float, float]
    only_first: int     # b: images only ``first`` gets right
    only_second: int    # c: images only ``second`` gets right
    mcnemar_p: float

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        low, high = self.difference_interval
        return (f"{self.first} - {self.second}: {100 * self.difference:+.1f} points "
                f"[{100 * low:+.1f}, {100 * high:+.1f}] on {self.images} images; "
                f"right only by {self.first}: {self.only_first}, only by {self.second}: "
                f"{self.only_second}, McNemar p = {self.mcnemar_p:.3g}")


def compare_paired(first: np.ndarray, second: np.ndarray, first_name: str, second_name: str,
                   resamples: int = 10000, seed: int = 0) -> PairedComparison:
    """Paired comparison of two per-image correctness vectors (bool, same images, same order)."""
    a, b = np.asarray(first, dtype=bool), np.asarray(second, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f"paired comparison of {a.shape} and {b.shape} correctness vectors")
    only_first, only_second = int(np.sum(a & ~b)), int(np.sum(~a & b))
    return PairedComparison(
        first=first_name, second=second_name, images=int(len(a)),
        first_accuracy=float(a.mean()) if len(a) else float("nan"),
        second_accuracy=float(b.mean()) if len(b) else float("nan"),
        difference=float(a.mean() - b.mean()) if len(a) else float("nan"),
        difference_interval=paired_bootstrap_interval(a, b, resamples, seed),
        only_first=only_first, only_second=only_second,
        mcnemar_p=mcnemar_exact_p(only_first, only_second))
