"""Why the scorer generalises worse than the primary score: every ranking, measured on every look.

``python -m grasp_scorer_ros.training.look_study --checkpoint M --look NAME=DIR ... --out DIR`` runs
the model as the detection node does (:class:`~grasp_scorer_ros.network.detector.GraspDetector`,
the node's precision) on each image of each look, and on three changed copies of it (brightness
x0.8 and x1.2, a Gaussian blur of 1 pixel), keeps every anchor's primary score, scorer probability
and grasp, and measures from them:

* **accuracy of each ranking** (:func:`ranking_rules`: the primary score, the scorer alone, the
  weighted geometric means ``p^(1-w) s^w`` of the final score, among them the checkpoint's own
  ``scorer_weight``, marked ``*``, and the scorer re-ranking the T best), paired against the
  primary score on the same images;
* **calibration**: the reliability of each ranking's top-1 score (binned score against the share of
  correct top grasps), its expected calibration error, and the share of images whose top grasp
  clears the node's ``score_threshold``; for a checkpoint with a score calibration
  (:mod:`~grasp_scorer_ros.training.score_calibration`), the final score as the node reports it too;
* **where the scorer was trained**: the scorer's and the primary score's AUC (correct against wrong
  grasps) among the T grasps with the best primary score, the population the scorer is trained on,
  and among the next ones (ranks T+1 to 256), which it never sees in training;
* **sensitivity**: how far brightness x1.2 moves each score's logit on the 256 best anchors,
  relative to the spread of that logit across them;
* **stability**: the share of images whose top grasp stays the same (centre within 2 px, angle
  within 5 deg, opening and jaw within 10%) under all three changes, and the share whose top grasp
  stays a match of the original one under the rectangle metric (30 deg, IoU 25%);
* **round objects**: how far each ranking's top grasp lies from the centre of the disc it is on.

Every monotone combination of the two scores takes its top grasp from the image's Pareto front
of (primary, scorer), so correctness is computed only where a ranking's top grasp falls.

Writes ``study.json`` (every figure) and ``reliability.png``; prints the tables.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import cv2
import numpy as np

from grasp_scorer_ros.datasets.named_sets import load_named_set
from grasp_scorer_ros.grasp import angle_difference
from grasp_scorer_ros.network.metric import match_grasps
from grasp_scorer_ros.training.paired_statistics import compare_paired, wilson_interval
from grasp_scorer_ros.training.score_calibration import logit, platt, reliability

SCORE_THRESHOLD = 0.5      # the detection node's default (config/detection.yaml)
SAME_CENTRE_PX, SAME_ANGLE_DEG, SAME_SIZE = 2.0, 5.0, 0.10
TOP_T = 64                 # T, the grasps the scorer is trained on per image
NEXT_RANKS = 256           # the anchors studied beyond T, by primary score
ROUND_KINDS = ("disc", "gear", "star")     # round outlines: the angle of a grasp across them is free


def perturb(rgb: np.ndarray, change: str) -> np.ndarray:
    """The image under one of :data:`CHANGES`: ``darker`` (x0.8), ``brighter`` (x1.2), ``blur``
    (Gaussian, sigma 1 pixel), ``original``."""
    if change == "original":
        return rgb
    if change == "blur":
        return cv2.GaussianBlur(rgb, (0, 0), sigmaX=1.0)
    gain = {"darker": 0.8, "brighter": 1.2}[change]
    return np.clip(rgb.astype(np.float32) * gain + 0.5, 0, 255).astype(np.uint8)


CHANGES = ("original", "darker", "brighter", "blur")


def _weighted(w: float) -> Callable:
    # p^(1-w) s^w: w = 0 is the primary score, 0.5 the geometric mean (the product's order).
    return lambda p, s: p ** (1.0 - w) * s ** w


WEIGHTS = (0.5, 0.25, 0.1)   # scorer weights studied: 0.5 the geometric mean (the product's order)


def weight_name(w: float) -> str:
    return f"p^{1 - w:g} s^{w:g}" + (" (geometric mean)" if w == 0.5 else "")


def ranking_rules(weights: Sequence[float] = WEIGHTS) -> Dict[str, Callable]:
    """The rankings studied: the primary score, the scorer alone, ``p^(1-w) s^w`` for each weight."""
    return {"primary": lambda p, s: p, "scorer": lambda p, s: s,
            **{weight_name(w): _weighted(w) for w in sorted(set(weights), reverse=True)}}


RULES = ranking_rules()


def top_t_choice(p: np.ndarray, s: np.ndarray, t: int = TOP_T) -> int:
    """The scorer's best among the ``t`` grasps with the best primary score."""
    candidates = np.argpartition(-p, min(t, len(p) - 1))[:t]
    return int(candidates[np.argmax(s[candidates])])


@dataclass
class LookOutputs:
    """One look's network outputs: ``primary``, ``scorer`` ``(V, N, A)`` and ``grasps``
    ``(V, N, A, 5)`` (image pixels) for the :data:`CHANGES` ``V`` of each of ``N`` images."""
    name: str
    primary: np.ndarray
    scorer: Optional[np.ndarray]
    grasps: np.ndarray
    ground_truth: List[np.ndarray]
    images: List[str]
    objects: List[Optional[list]] = field(default_factory=list)   # per image: [{"kind", "centre_px"}]


def scene_objects(root: Path, image_paths: Sequence[Path]) -> List[Optional[list]]:
    """Each image's objects (kind and image centre), from how its dataset was made: the cell
    renders' manifest, or the synthetic generator rerun on the manifest's seed (``None`` where
    unknown, as for a real dataset)."""
    cell = root / "cell_renders.json"
    if cell.is_file():
        by_image = {s["image"]: s["objects"] for s in json.loads(cell.read_text())["scenes"]}
        return [by_image.get(Path(p).relative_to(root).as_posix()) for p in image_paths]
    manifest = root / "synthetic.json"
    if not manifest.is_file():
        return [None] * len(image_paths)
    from grasp_scorer_ros.synthetic.scene import SceneConfig, generate_scene, make_object_pool
    m = json.loads(manifest.read_text())
    c = m["config"]
    config = SceneConfig(size=c["size"], min_objects=c["min_objects"], max_objects=c["max_objects"], look=m["look"])
    pool = make_object_pool(m["seed"], m["object_sets"], config)
    found = []
    for path in image_paths:
        index = int(Path(path).name.split("_")[0])
        scene = generate_scene(index, m["seed"], pool, config)
        found.append([{"kind": proto.kind, "centre_px": [shape.centroid.x, shape.centroid.y]}
                      for shape, proto in zip(scene.shapes, scene.prototypes)])
    return found


def _by_anchor(detections):
    order = np.argsort(detections.anchor_index)
    scorer = None if detections.scorer_scores is None else detections.scorer_scores[order]
    return detections.primary_scores[order], scorer, detections.grasps[order]


def collect(detector, samples, name: str, root: Optional[Path] = None, progress=None) -> LookOutputs:
    """Run ``detector`` on every sample and its changed copies (sorted by the model's final score)."""
    from grasp_scorer_ros.datasets.sample import load_rgb
    primary, scorer, grasps, gts, names = [], [], [], [], []
    items = progress(samples) if progress else samples
    for sample in items:
        rgb = load_rgb(sample.image_path)
        # In anchor order, so that one anchor's scores can be followed across the changes.
        per_change = [_by_anchor(detector.detect(perturb(rgb, c))) for c in CHANGES]
        primary.append([d[0] for d in per_change])
        scorer.append([d[1] for d in per_change] if per_change[0][1] is not None else None)
        grasps.append([d[2].astype(np.float16) for d in per_change])
        gts.append(np.asarray(sample.grasps, np.float64))
        names.append(str(sample.image_path))
    has_scorer = scorer[0] is not None
    objects = scene_objects(Path(root), names) if root is not None else [None] * len(names)
    return LookOutputs(name=name, primary=np.asarray(primary, np.float32).transpose(1, 0, 2),
                       scorer=np.asarray(scorer, np.float32).transpose(1, 0, 2) if has_scorer else None,
                       grasps=np.asarray(grasps).transpose(1, 0, 2, 3), ground_truth=gts, images=names,
                       objects=objects)


def pareto_front(p: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Indices of the grasps no other grasp beats on both scores (best primary first)."""
    order = np.lexsort((-s, -p))
    best, keep = -np.inf, []
    for i in order:
        if s[i] > best:
            keep.append(i)
            best = s[i]
    return np.array(keep, dtype=np.int64)


def rule_choices(p: np.ndarray, s: np.ndarray, rules: Dict[str, Callable]) -> Dict[str, int]:
    """Each rule's top grasp (index), from the Pareto front; plus ``scorer, top T``."""
    front = pareto_front(p, s)
    choices = {name: int(front[np.argmax(rule(p[front].astype(np.float64), s[front].astype(np.float64)))])
               for name, rule in rules.items()}
    choices["scorer, top T"] = top_t_choice(p, s)
    return choices


def same_grasp(a: np.ndarray, b: np.ndarray) -> bool:
    """The stability test: centre within 2 px, angle within 5 deg, opening and jaw within 10%."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return bool(np.hypot(*(a[:2] - b[:2])) <= SAME_CENTRE_PX and angle_difference(a[4], b[4]) <= SAME_ANGLE_DEG
                and abs(a[2] - b[2]) <= SAME_SIZE * max(a[2], 1e-6) and abs(a[3] - b[3]) <= SAME_SIZE * max(a[3], 1e-6))


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (ties counted half); NaN without both classes."""
    labels = labels.astype(bool)
    pos, neg = scores[labels], scores[~labels]
    if not len(pos) or not len(neg):
        return float("nan")
    order = np.argsort(np.concatenate([pos, neg]), kind="stable")
    ranks = np.empty(len(order))
    ranks[order] = np.arange(1, len(order) + 1)
    allscores = np.concatenate([pos, neg])
    for value in np.unique(allscores):                 # average ranks of ties
        tied = allscores == value
        if tied.sum() > 1:
            ranks[tied] = ranks[tied].mean()
    return float((ranks[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


CALIBRATED = "final, calibrated"


def analyse(look: LookOutputs, rules: Dict[str, Callable] = RULES, threshold: float = SCORE_THRESHOLD,
            shipped: Optional[str] = None, score_calibration: tuple = (1.0, 0.0)) -> dict:
    """Every figure of the module docstring for one look; ``shipped`` names the rule the model's
    final score is (marked in the report). With a ``score_calibration`` other than the identity,
    the ranking :data:`CALIBRATED` is the shipped rule's top grasp with the score the node reports
    (Platt scaling; the same grasps, so the same accuracy: only its calibration differs)."""
    n = look.primary.shape[1]
    has_scorer = look.scorer is not None
    names = list(rules) + ["scorer, top T"] if has_scorer else ["primary"]
    cache: Dict[tuple, bool] = {}

    def correct(i: int, a: int) -> bool:
        if (i, a) not in cache:
            cache[(i, a)] = bool(match_grasps(look.grasps[0, i, a][None].astype(np.float64), look.ground_truth[i])[0])
        return cache[(i, a)]

    choice = {name: np.zeros((len(CHANGES), n), np.int64) for name in names}
    top_score = {name: np.zeros(n) for name in names}
    auc_rows, sensitivity = [], {"primary": [], "scorer": []}
    for i in range(n):
        for v in range(len(CHANGES)):
            p = look.primary[v, i]
            if has_scorer:
                s = look.scorer[v, i]
                for name, a in rule_choices(p, s, rules).items():
                    choice[name][v, i] = a
            else:
                choice["primary"][v, i] = int(np.argmax(p))
        if has_scorer:
            p, s = look.primary[0, i].astype(np.float64), look.scorer[0, i].astype(np.float64)
            for name in names:
                a = choice[name][0, i]
                top_score[name][i] = rules[name](p[a], s[a]) if name in rules else s[a]
            ranked = np.argsort(-p, kind="stable")[:NEXT_RANKS]
            labels = match_grasps(look.grasps[0, i, ranked].astype(np.float64), look.ground_truth[i])
            cache.update({(i, int(a)): bool(hit) for a, hit in zip(ranked, labels)})
            auc_rows.append((labels, p[ranked], s[ranked]))
            # The same 256 anchors under brightness x1.2 (outputs are in anchor order).
            for key, values in (("primary", look.primary), ("scorer", look.scorer)):
                base, moved = logit(values[0, i, ranked]), logit(values[2, i, ranked])
                sensitivity[key].append(float(np.mean(np.abs(moved - base)) / max(np.std(base), 1e-6)))
        else:
            top_score["primary"][i] = look.primary[0, i, choice["primary"][0, i]]
    if shipped in choice and tuple(score_calibration) != (1.0, 0.0):
        names.append(CALIBRATED)
        choice[CALIBRATED] = choice[shipped]
        top_score[CALIBRATED] = platt(top_score[shipped], *score_calibration)
        shipped = CALIBRATED

    result = {"look": look.name, "images": n, "rankings": {}, "shipped": shipped}
    correct_by = {}
    for name in names:
        hits = np.array([correct(i, choice[name][0, i]) for i in range(n)])
        correct_by[name] = hits
        k = int(hits.sum())
        lo, hi = wilson_interval(k, n)
        stable = np.array([all(same_grasp(look.grasps[0, i, choice[name][0, i]], look.grasps[v, i, choice[name][v, i]])
                               for v in range(1, len(CHANGES))) for i in range(n)])
        equivalent = np.array([all(match_grasps(look.grasps[v, i, choice[name][v, i]][None].astype(np.float64),
                                                look.grasps[0, i, choice[name][0, i]][None].astype(np.float64))[0]
                                   for v in range(1, len(CHANGES))) for i in range(n)])
        row = {"accuracy": k / n, "interval": [lo, hi], "correct": hits.tolist(),
               "stable_share": float(stable.mean()), "equivalent_share": float(equivalent.mean()),
               "over_threshold_share": float((top_score[name] >= threshold).mean()),
               "reliability": reliability(top_score[name], hits)}
        if name != "primary":
            row["against_primary"] = compare_paired(hits, correct_by["primary"], name, "primary").to_dict()
        row["round_offset_px"] = _round_offsets(look, choice[name][0])
        result["rankings"][name] = row
    if has_scorer:
        labels = np.concatenate([r[0] for r in auc_rows])
        rank = np.tile(np.arange(NEXT_RANKS), len(auc_rows))[:len(labels)]
        p_all, s_all = np.concatenate([r[1] for r in auc_rows]), np.concatenate([r[2] for r in auc_rows])
        inside = rank < TOP_T
        result["auc"] = {f"top {TOP_T} by primary": {"primary": auc(p_all[inside], labels[inside]),
                                                     "scorer": auc(s_all[inside], labels[inside])},
                         f"ranks {TOP_T + 1}-{NEXT_RANKS}": {"primary": auc(p_all[~inside], labels[~inside]),
                                                            "scorer": auc(s_all[~inside], labels[~inside])},
                         "share correct": [float(labels[inside].mean()), float(labels[~inside].mean())]}
        result["anchor_reliability"] = {"primary": reliability(p_all, labels), "scorer": reliability(s_all, labels)}
        result["sensitivity_brighter"] = {k: float(np.median(v)) for k, v in sensitivity.items()}
    return result


def _round_offsets(look: LookOutputs, chosen: np.ndarray) -> Optional[dict]:
    """Median distance (px) from the top grasp's centre to the centre of the round object (disc, gear,
    star) it is on."""
    offsets = []
    for i, a in enumerate(chosen):
        objects = look.objects[i] if i < len(look.objects) else None
        if not objects:
            continue
        centre = look.grasps[0, i, a, :2].astype(np.float64)
        nearest = min(objects, key=lambda o: np.hypot(*(np.asarray(o["centre_px"]) - centre)))
        if nearest["kind"] in ROUND_KINDS:
            offsets.append(float(np.hypot(*(np.asarray(nearest["centre_px"]) - centre))))
    if not offsets:
        return None
    return {"images": len(offsets), "median": float(np.median(offsets)), "mean": float(np.mean(offsets))}


def format_report(results: Sequence[dict]) -> List[str]:
    lines = []
    for r in results:
        lines.append(f"== {r['look']} ({r['images']} images)")
        lines.append(f"{'ranking (* the final score)':28s} {'top-1':>22s} {'- primary [95%], p':>28s} {'>= 0.5':>7s} {'ECE':>6s} "
                     f"{'stable':>7s} {'equiv':>6s} {'disc offset':>11s}")
        for name, row in r["rankings"].items():
            lo, hi = row["interval"]
            versus = row.get("against_primary")
            vs = (f"{100 * versus['difference']:+.1f} [{100 * versus['difference_interval'][0]:+.1f}, "
                  f"{100 * versus['difference_interval'][1]:+.1f}] p={versus['mcnemar_p']:.2g}") if versus else ""
            disc = row["round_offset_px"]
            label = name + (" *" if name == r.get("shipped") else "")
            lines.append(f"{label:28s} {100 * row['accuracy']:6.1f}% [{100 * lo:4.1f}, {100 * hi:4.1f}] {vs:>28s} "
                         f"{100 * row['over_threshold_share']:6.1f}% {row['reliability']['ece']:6.3f} "
                         f"{100 * row['stable_share']:6.1f}% {100 * row['equivalent_share']:5.1f}% "
                         f"{'' if disc is None else format(disc['median'], '.1f') + ' px (' + str(disc['images']) + ')':>11s}")
        if "auc" in r:
            for where, values in r["auc"].items():
                if where != "share correct":
                    lines.append(f"  AUC {where}: primary {values['primary']:.3f}, scorer {values['scorer']:.3f}")
            lines.append(f"  share correct: top {TOP_T} {100 * r['auc']['share correct'][0]:.1f}%, "
                         f"next {100 * r['auc']['share correct'][1]:.1f}%; anchor ECE primary "
                         f"{r['anchor_reliability']['primary']['ece']:.3f}, scorer "
                         f"{r['anchor_reliability']['scorer']['ece']:.3f}; brightness x1.2 moves the logit by "
                         f"{r['sensitivity_brighter']['primary']:.2f} (primary) / "
                         f"{r['sensitivity_brighter']['scorer']:.2f} (scorer) of its spread")
    return lines


def plot_reliability(results: Sequence[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(results), figsize=(3.6 * len(results), 3.6), squeeze=False)
    for ax, r in zip(axes[0], results):
        ax.plot([0, 1], [0, 1], color="0.7", lw=1)
        for name, row in r["rankings"].items():
            if name not in ("primary", "scorer", r.get("shipped")):
                continue
            bins = row["reliability"]["bins"]
            ax.plot([b["mean_score"] for b in bins], [b["share_correct"] for b in bins], marker="o", ms=3,
                    label=f"{name} (ECE {row['reliability']['ece']:.2f})")
        ax.axvline(SCORE_THRESHOLD, color="0.85", ls="--", lw=1)
        ax.set_title(f"{r['look']}: top-1 grasps", fontsize=9)
        ax.set_xlabel("score of the top grasp")
        ax.set_ylabel("share correct")
        ax.legend(fontsize=6, loc="upper left")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m grasp_scorer_ros.training.look_study",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", default=None, help="model checkpoint (default: the bundled model)")
    parser.add_argument("--look", action="append", default=[], metavar="NAME=DIR[:foldK]",
                        help="a Jacquard-format folder to study, named; ':fold0' keeps only object-wise fold 0's "
                             "images (held-out objects); repeat for several looks")
    parser.add_argument("--limit", type=int, default=0, help="at most N images per look (a seeded sample)")
    parser.add_argument("--out", type=Path, help="the study's folder (required unless --compare)")
    parser.add_argument("--precision", default="auto", choices=["auto", "float32", "bfloat16"])
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--reuse", action="store_true", help="reuse the outputs a previous run saved in --out")
    parser.add_argument("--compare", nargs=2, metavar=("STUDY_A", "STUDY_B"), type=Path,
                        help="instead of running: two finished studies' study.json, their shipped final scores "
                             "paired image by image on every look both have (A - B)")
    parser.add_argument("--weights", type=float, nargs="+", default=list(WEIGHTS),
                        help="scorer weights w of the rankings p^(1-w) s^w to study, besides the checkpoint's own "
                             "(default: 0.5 0.25 0.1)")
    return parser


def save_outputs(look: LookOutputs, path: Path) -> None:
    np.savez(path, primary=look.primary, scorer=look.scorer if look.scorer is not None else np.zeros(0),
             grasps=look.grasps, images=np.array(look.images),
             ground_truth=np.array(look.ground_truth, dtype=object), allow_pickle=True)
    path.with_suffix(".objects.json").write_text(json.dumps(look.objects))


def load_outputs(name: str, path: Path) -> LookOutputs:
    data = np.load(path, allow_pickle=True)
    scorer = data["scorer"] if data["scorer"].size else None
    return LookOutputs(name=name, primary=data["primary"], scorer=scorer, grasps=data["grasps"],
                       ground_truth=list(data["ground_truth"]), images=list(data["images"]),
                       objects=json.loads(path.with_suffix(".objects.json").read_text()))


def run(args: argparse.Namespace, quiet: bool = False) -> List[dict]:
    """The study of ``args`` (:func:`get_args_parser`); returns each look's result."""
    from tqdm import tqdm
    args.out.mkdir(parents=True, exist_ok=True)
    from grasp_scorer_ros import bundled
    from grasp_scorer_ros.network.checkpoint import load_checkpoint
    from grasp_scorer_ros.network.model import ModelConfig
    checkpoint = args.checkpoint or str(bundled.default_checkpoint_path())
    config = ModelConfig.from_dict(load_checkpoint(checkpoint)["config"])
    shipped = None
    if config.final_ranking == "product":
        shipped = weight_name(config.scorer_weight)
    elif config.final_ranking == "all":
        shipped = "scorer"
    elif config.final_ranking == "top_t":
        shipped = "scorer, top T"
    rules = ranking_rules([*args.weights, *([config.scorer_weight] if config.final_ranking == "product" else [])])
    detector = None
    results = []
    for spec in args.look:
        name = spec.partition("=")[0]
        cached = args.out / f"outputs_{name}.npz"
        if args.reuse and cached.is_file():
            look = load_outputs(name, cached)
        else:
            if detector is None:
                from grasp_scorer_ros.network.detector import GraspDetector
                from grasp_scorer_ros.network.precision import resolve_precision
                dtype, why = resolve_precision(args.precision)
                detector = GraspDetector(checkpoint, num_threads=args.threads or None, dtype=dtype,
                                         channels_last=dtype == "bfloat16")
                print(f"model {checkpoint}, {dtype} ({why}), final score {shipped}", flush=True)
            name, root, samples = load_named_set(spec, args.limit)
            look = collect(detector, samples, name, root,
                           progress=lambda it: tqdm(it, desc=name, unit="image", mininterval=5, disable=quiet))
            save_outputs(look, cached)
        result = analyse(look, rules, shipped=shipped, score_calibration=config.score_calibration)
        results.append(result)
        if not quiet:
            print("\n".join(format_report([result])), flush=True)
    (args.out / "study.json").write_text(json.dumps(results, indent=1))
    plot_reliability(results, args.out / "reliability.png")
    (args.out / "report.txt").write_text("\n".join(format_report(results)) + "\n")
    return results


def compare_studies(first: Path, second: Path) -> List[str]:
    """Each look both studies have: the shipped final score of A against B's, paired image by image
    (the same images: the looks' names and image counts must agree)."""
    a = {r["look"]: r for r in json.loads(Path(first).read_text())}
    b = {r["look"]: r for r in json.loads(Path(second).read_text())}
    lines = [f"A = {first}, B = {second}: final score (as each model ships it), A - B"]
    for look in [name for name in a if name in b]:
        ra, rb = a[look], b[look]
        if ra["images"] != rb["images"]:
            lines.append(f"  {look}: not the same images ({ra['images']} vs {rb['images']})")
            continue
        hits_a = np.array(ra["rankings"][ra["shipped"] or "primary"]["correct"], bool)
        hits_b = np.array(rb["rankings"][rb["shipped"] or "primary"]["correct"], bool)
        lines.append(f"  {look} ({ra['images']}): A {100 * hits_a.mean():.1f}%, B {100 * hits_b.mean():.1f}%; "
                     + compare_paired(hits_a, hits_b, "A", "B").summary())
    return lines


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = get_args_parser()
    args = parser.parse_args(argv)
    if args.compare:
        print("\n".join(compare_studies(*args.compare)))
        return 0
    if not args.look or args.out is None:
        parser.error("--look and --out are required (or --compare)")
    run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
