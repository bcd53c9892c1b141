"""``grasp-scorer-trials``: pick trials in the physics cell, from the camera image to a placed object.

Each trial draws a seeded cell scene (objects and tables the model never trained on, by default),
renders the calibrated overhead camera and its depth, and runs what the launched node and bridge
run on that frame: the detection node's frame pipeline
(:class:`~grasp_scorer_ros.pipeline.frame_pipeline.FramePipeline`: the detector, the depth checks
and heights, the pose, the best grasp only at or over ``score_threshold``), with the settings of
``config/detection.yaml`` (the launch file's), then the bridge's ``grasp_height_offset`` and pick
plan; then the physics, stepped as fast as the CPU allows. ``--no-depth`` runs the pipeline
without depth (grasps on the table plane), as a node launched without a depth topic would. Every
ranking starts from the same settled scene. Scored as in :mod:`.pick_trial`, two ways: the first
attempt (the paper's robot test), and within ``--attempts`` attempts as the bridge's pick cycle
makes them: the simulated cell's part-present input verifies each pick, and after a verified miss
(nothing between the pads after the close or after the lift: jaws opened, arm up) a fresh frame of
the scene as the miss left it is ranked and picked again.

Writes ``results.json`` (every trial, every ranking; ``trials.jsonl`` line by line as they end),
``summary.txt``, the camera frame (with the
chosen grasp) and a side view after the lift of each failure in ``failures/``, and
``montage.png``. The last line printed is ``success rate: 92.3% [89.1, 94.6]`` (95% Wilson
interval) of the first ranking given.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import List, Optional, Sequence

import cv2
import numpy as np
from tqdm import tqdm

from grasp_scorer_ros import bundled
from grasp_scorer_ros.camera.calibration_file import load_calibration_yaml, load_intrinsics_yaml
from grasp_scorer_ros.camera.models import CalibrationError
from grasp_scorer_ros.fanuc.cell import CellConfig
from grasp_scorer_ros.fanuc.pick_planner import LIFT, SIMULATED_PART_PRESENT_PORT, PickConfig
from grasp_scorer_ros.network.detector import Detections
from grasp_scorer_ros.network.metric import match_grasps
from grasp_scorer_ros.pipeline.frame_pipeline import FramePipeline, FrameResult, FrameSettings
from grasp_scorer_ros.sim.cell_scene import SCENE_FAMILIES, make_cell_scene
from grasp_scorer_ros.sim.pick_trial import (CAUSES, NO_GRASP, NOT_PASSED, REFUSED, SUCCESS, PickOutcome,
                                             run_pick)
from grasp_scorer_ros.training.paired_statistics import compare_paired, wilson_interval
from grasp_scorer_ros.visualize import draw_grasps

RANKINGS = ("final", "primary", "ground-truth")
CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"


def default_detection_config() -> Optional[Path]:
    """The launch file's detection settings: config/detection.yaml of the checkout, else of the
    installed package (``share/grasp_scorer_ros/config`` under a prefix of ``AMENT_PREFIX_PATH``,
    where colcon installs it); None when neither is found."""
    candidates = [CONFIG_DIR] + [Path(prefix) / "share" / "grasp_scorer_ros" / "config"
                                 for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if prefix]
    return next((c / "detection.yaml" for c in candidates if (c / "detection.yaml").is_file()), None)


def trial_settings(args) -> FrameSettings:
    """The frame pipeline's settings: detection.yaml's, --score-threshold over its threshold."""
    settings = FrameSettings.from_yaml(args.detection_config) if args.detection_config else FrameSettings()
    if args.score_threshold is not None:
        settings = settings.replace(score_threshold=args.score_threshold)
    return settings


def outcome_without_pick(result: FrameResult, ranking: str) -> PickOutcome:
    """Why nothing was picked from a frame whose pipeline gave no best grasp."""
    if result.problem:
        return PickOutcome(NOT_PASSED, detail=f"{result.problem[0]}: {result.problem[1]}")
    placed = result.placed
    if placed:
        return PickOutcome(NO_GRASP, detail=f"best {ranking} score {placed[0].score:.3f} < {result.threshold}")
    reasons = Counter(reason for _, reason in result.refusals)
    return PickOutcome(NOT_PASSED, detail="; ".join(f"{reason} x{n}" for reason, n in reasons.most_common(3))
                       or "no grasp has a pose")


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="grasp-scorer-trials",
        description="Pick trials in a MuJoCo cell: detect on the rendered camera frame, plan the bridge's pick, "
                    "simulate it, and count the objects lifted, carried and released at the place pose.")
    parser.add_argument("--trials", type=int, default=300, help="number of scenes (default: 300)")
    parser.add_argument("--seed", type=int, default=1000, help="scene seed (default: 1000)")
    parser.add_argument("--checkpoint", default=None, help="model checkpoint (default: the bundled model)")
    parser.add_argument("--out", default="trials_output", help="output folder (default: trials_output)")
    parser.add_argument("--ranking", nargs="+", choices=RANKINGS, default=["final", "primary"],
                        help="which grasp each trial picks, each from the same scene: the model's final score (what "
                             "the node publishes), its primary score alone, or one of the generator's ground-truth "
                             "grasps (no model); the first one gives the last line (default: final primary)")
    parser.add_argument("--look", default="heldout", choices=["heldout", "train"],
                        help="the generator's look of objects and tables (default: heldout, never trained on)")
    parser.add_argument("--families", nargs="+", choices=sorted(SCENE_FAMILIES), default=None,
                        help="scene families to draw (default: all, with their shares)")
    parser.add_argument("--detection-config", type=Path, default=default_detection_config(),
                        help="the detection node's parameter file whose settings the trials use (score_threshold, "
                             "num_candidates, grasp_depth, the depth settings, ...; default: the launch file's, "
                             "config/detection.yaml)")
    parser.add_argument("--score-threshold", type=float, default=None,
                        help="the node's score_threshold: no pick below it (default: the detection config's, 0.5)")
    parser.add_argument("--attempts", type=int, default=CellConfig().max_consecutive_misses,
                        help="attempts per scene counted by 'success within N attempts': after a miss the "
                             "part-present input saw, the bridge's pick cycle asks for a fresh frame and picks "
                             "again (default: the bridge's max_consecutive_misses, 3)")
    parser.add_argument("--no-depth", dest="depth", action="store_false",
                        help="no depth: grasps on the table plane, as a node launched without a depth topic (the "
                             "default: the cell's rendered depth, as world:=physics gives the node)")
    parser.add_argument("--grasp-height-offset", type=float, default=CellConfig().grasp_height_offset,
                        help="the bridge's grasp_height_offset: the fingertips stop this far above the table "
                             "(default: the bridge's, 0.015 m)")
    parser.add_argument("--calibration", default=str(bundled.demo_calibration_path()),
                        help="calibration YAML of the camera (default: the demo camera's)")
    parser.add_argument("--camera-info", default=str(bundled.demo_camera_path()),
                        help="camera_info_manager intrinsics YAML (default: the demo camera's)")
    parser.add_argument("--precision", default="auto", choices=["auto", "float32", "bfloat16"])
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--save", choices=["failures", "all", "none"], default="failures",
                        help="which trials keep their camera frame and side view (default: failures)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--summary-of", metavar="RESULTS",
                        help="print the summary of a finished run's results.json (or trials.jsonl) instead of running")
    parser.add_argument("--compare", nargs=2, metavar="RESULTS:RANKING",
                        help="compare two finished runs on the same scenes instead of running trials, e.g. "
                             "runs/full/results.json:final runs/baseline/results.json:primary (paired bootstrap, "
                             "McNemar)")
    return parser


def load_trials(path: Path) -> tuple:
    """A run's trials and its scene seed: ``results.json`` of a finished run, or the ``trials.jsonl`` a
    running or stopped one has written so far (its seed is then unknown: None)."""
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()], None
    document = json.loads(path.read_text())
    return document["trials"], document["arguments"]["seed"]


def compare_runs(first: str, second: str) -> List[str]:
    """The paired comparison of two runs' rankings, trial by trial (same seed and scenes); a
    ``trials.jsonl`` (a run still going or stopped) pairs on the scenes both have."""
    runs = []
    for spec in (first, second):
        path, _, ranking = spec.rpartition(":")
        records, seed = load_trials(Path(path))
        trials = {t["index"]: t[ranking]["cause"] == SUCCESS for t in records}
        runs.append((f"{Path(path).parent.name}:{ranking}", trials, seed))
    (a, ta, seed_a), (b, tb, seed_b) = runs
    if seed_a is not None and seed_b is not None and seed_a != seed_b:
        raise ValueError(f"the runs are of different scene seeds ({seed_a}, {seed_b}): nothing to pair")
    common = sorted(set(ta) & set(tb))
    if not common:
        raise ValueError("the runs have no scene in common")
    result = compare_paired(np.array([ta[i] for i in common]), np.array([tb[i] for i in common]), a, b)
    return [f"{len(common)} scenes in common; {a}: {100 * result.first_accuracy:.1f}%, "
            f"{b}: {100 * result.second_accuracy:.1f}%",
            "paired: " + result.summary()]


def _load_detector(args):
    from grasp_scorer_ros.network.detector import GraspDetector
    from grasp_scorer_ros.network.precision import resolve_precision
    dtype, why = resolve_precision(args.precision)
    path = args.checkpoint or str(bundled.default_checkpoint_path())
    detector = GraspDetector(path, num_threads=args.threads or None, dtype=dtype,
                             channels_last=dtype == "bfloat16")
    print(f"model {path} ({detector.config.backbone}, scorer: {detector.model.scorer is not None}), "
          f"{dtype} ({why})", flush=True)
    return detector


def _frame(rgb: np.ndarray, grasp: Optional[np.ndarray], label: str, ok: bool) -> np.ndarray:
    out = rgb if grasp is None else draw_grasps(rgb, grasp[None], thickness=2)
    out = out.copy()
    cv2.putText(out, label, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(out, label, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (80, 255, 80) if ok else (255, 90, 90), 1,
                cv2.LINE_AA)
    return out


def _write_rgb(path: Path, rgb: np.ndarray) -> None:
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def summarize(records: List[dict], rankings: Sequence[str]) -> List[str]:
    """The summary's lines (the last one the ``success rate:`` of the first ranking)."""
    lines = []
    success = {r: np.array([rec[r]["cause"] == SUCCESS for rec in records]) for r in rankings}
    for r in rankings:
        k, n = int(success[r].sum()), len(records)
        lo, hi = wilson_interval(k, n)
        causes = Counter(rec[r]["cause"] for rec in records)
        lines.append(f"{r}: {k}/{n} = {100 * k / max(n, 1):.1f}% [{100 * lo:.1f}, {100 * hi:.1f}]; "
                     + ", ".join(f"{c}: {causes[c]}" for c in CAUSES if c != SUCCESS and causes[c]))
        if all("success_within" in rec[r] for rec in records):
            k_within = sum(rec[r]["success_within"] for rec in records)
            lo_w, hi_w = wilson_interval(k_within, n)
            retried = sum(len(rec[r]["attempts"]) > 1 for rec in records)
            lines.append(f"  within {max(len(rec[r]['attempts']) for rec in records)} attempt(s), the bridge "
                         f"retrying after a miss it saw: {k_within}/{n} = {100 * k_within / max(n, 1):.1f}% "
                         f"[{100 * lo_w:.1f}, {100 * hi_w:.1f}] ({retried} scene(s) retried)")
        families = sorted({rec["family"] for rec in records})
        lines.append("  by family: " + ", ".join(
            f"{f} {sum(s for s, rec in zip(success[r], records) if rec['family'] == f)}/"
            f"{sum(rec['family'] == f for rec in records)}" for f in families))
        # Only grasps the physics tried: not those under the threshold or refused by the limits.
        judged = [(rec[r]["metric_correct"], rec[r]["cause"] == SUCCESS) for rec in records
                  if rec[r].get("metric_correct") is not None and rec[r]["cause"] not in (NO_GRASP, NOT_PASSED, REFUSED)]
        if judged:
            table = Counter(judged)
            agree = table[(True, True)] + table[(False, False)]
            lines.append(f"  rectangle metric vs physics on {len(judged)} picked grasps: agree {agree} "
                         f"({100 * agree / len(judged):.1f}%); metric yes & placed {table[(True, True)]}, "
                         f"metric yes & failed {table[(True, False)]}, metric no & placed {table[(False, True)]}, "
                         f"metric no & failed {table[(False, False)]}")
    for i, a in enumerate(rankings):
        for b in rankings[i + 1:]:
            lines.append("paired: " + compare_paired(success[a], success[b], a, b).summary())
    first = rankings[0]
    k, n = int(success[first].sum()), len(records)
    lo, hi = wilson_interval(k, n)
    lines.append(f"success rate: {100 * k / max(n, 1):.1f}% [{100 * lo:.1f}, {100 * hi:.1f}]")
    return lines


def run_trials(args) -> int:
    out = Path(args.out)
    (out / "failures").mkdir(parents=True, exist_ok=True)
    try:
        calibration = load_calibration_yaml(args.calibration)
        intrinsics = load_intrinsics_yaml(args.camera_info)
        settings = trial_settings(args)
    except (CalibrationError, OSError, ValueError) as error:
        print(f"grasp-scorer-trials: {error}", file=sys.stderr)
        return 2
    detector = _load_detector(args) if set(args.ranking) & {"final", "primary"} else None
    pipeline = FramePipeline(detector, calibration.camera_pose, calibration.surface, settings)
    print(f"settings: score_threshold {settings.score_threshold:g}, num_candidates {settings.num_candidates}, "
          f"{'depth from the cell' if args.depth else 'no depth (grasps on the table plane)'}, bridge "
          f"grasp_height_offset {args.grasp_height_offset:g} m", flush=True)
    from grasp_scorer_ros.sim.physics_cell import PhysicsCell   # MuJoCo only once the arguments are good
    pick = PickConfig(part_present_port=SIMULATED_PART_PRESENT_PORT)    # the simulated cell's sensor
    records, montage = [], []
    renderers: dict = {}
    started = time.monotonic()
    stream = (out / "trials.jsonl").open("w")      # one line per trial as it ends: a stopped run keeps them
    bar = tqdm(range(args.trials), desc="trials", unit="trial", disable=args.quiet, file=sys.stdout)
    for index in bar:
        scene = make_cell_scene(index, args.seed, calibration, intrinsics, look=args.look,
                                families=tuple(args.families) if args.families else None)
        cell = PhysicsCell(scene, calibration, intrinsics, renderer_cache=renderers)
        state = cell.save_state()
        rgb = cell.render_rgb()
        depth = cell.render_depth() if args.depth else None
        record = {"index": index, "family": scene.family, "object_id": scene.object_id,
                  "objects": [{"kind": o.kind, "height_m": round(o.height, 4), "mass_kg": round(o.mass, 4)}
                              for o in scene.objects]}
        every_first = detector.detect(rgb) if "primary" in args.ranking else None   # every grasp, for re-ranking

        for ranking in args.ranking:
            cell.restore_state(state)
            attempts, side = [], {}
            frame_rgb, frame_depth = rgb, depth
            while True:
                if ranking == "final":      # exactly what the node does with this frame
                    result = pipeline.process(frame_rgb, intrinsics, frame_depth)
                elif ranking == "primary":
                    every = detector.detect(frame_rgb) if attempts else every_first   # every grasp, re-ranked
                    result = pipeline.place(every, frame_rgb.shape, intrinsics, frame_depth, ranking="primary")
                else:                       # one of the generator's grasps, placed as the node would place it
                    rng = np.random.default_rng([args.seed, 9001, index])
                    truth = scene.grasps_px[rng.integers(len(scene.grasps_px))]
                    one = Detections(grasps=truth[None].astype(np.float32), scores=np.ones(1, np.float32),
                                     primary_scores=np.ones(1, np.float32))
                    result = pipeline.place(one, frame_rgb.shape, intrinsics, frame_depth, wanted=1)
                best = result.best
                if best is None:
                    outcome = outcome_without_pick(result, ranking)
                else:
                    pose = best.pose
                    outcome = run_pick(cell, pose.position, pose.quaternion, pose.opening_width_m, pick,
                                       args.grasp_height_offset,
                                       on_step=lambda name, c: side.update(
                                           {name: c.render_rgb("side", True, (320, 240))})
                                       if name == LIFT and not side else None)
                attempts.append(outcome.cause)
                if len(attempts) == 1:
                    first, first_best, first_result = outcome, best, result
                # The bridge tries again only after a miss it saw; a ground-truth grasp is one draw.
                if not outcome.verified or ranking == "ground-truth" or len(attempts) >= args.attempts:
                    break
                frame_rgb = cell.render_rgb()
                frame_depth = cell.render_depth() if args.depth else None
            outcome, best, result = first, first_best, first_result
            shown = best or (result.placed[0] if result.placed else None)
            grasp = None if shown is None else shown.grasp_px
            if grasp is None and ranking == "ground-truth":
                grasp = one.grasps[0]
            score = None if shown is None or ranking == "ground-truth" else shown.score
            metric = None if grasp is None or ranking == "ground-truth" else \
                bool(match_grasps(grasp[None], scene.grasps_px)[0])
            record[ranking] = {"cause": outcome.cause, "detail": outcome.detail, "score": score,
                               "grasp_px": None if grasp is None else [round(float(v), 2) for v in grasp],
                               "z_m": None if best is None else round(float(best.pose.position[2]), 4),
                               "target": outcome.target, "lifted": outcome.lifted, "disturbed": outcome.disturbed,
                               "rise_m": round(outcome.rise_m, 4), "metric_correct": metric,
                               "attempts": attempts, "success_within": SUCCESS in attempts}
            keep = args.save == "all" or (args.save == "failures" and not outcome.success)
            label = f"{index} {ranking}: {outcome.cause}"
            picture = _frame(rgb, grasp, label, outcome.success)
            if keep:
                stem = out / "failures" / f"trial_{index:04d}_{ranking}"
                _write_rgb(stem.with_name(stem.name + "_camera.png"), picture)
                if LIFT in side:
                    _write_rgb(stem.with_name(stem.name + "_after_lift.png"), side[LIFT])
            if len(montage) < 24 and ranking == args.ranking[0]:
                montage.append(cv2.resize(picture, (240, 240), interpolation=cv2.INTER_AREA))
        records.append(record)
        stream.write(json.dumps(record) + "\n")
        stream.flush()
        done = [r[args.ranking[0]]["cause"] == SUCCESS for r in records]
        bar.set_postfix_str(f"{args.ranking[0]} {100 * np.mean(done):.1f}%")
    stream.close()
    elapsed = time.monotonic() - started
    lines = summarize(records, args.ranking)
    lines.insert(0, f"{args.trials} trials (seed {args.seed}, look {args.look}, "
                    f"{'depth' if args.depth else 'no depth'}) in {elapsed:.0f} s: "
                    f"{60 * args.trials / elapsed:.1f} trials/minute, {len(args.ranking)} pick(s) each")
    arguments = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    (out / "results.json").write_text(json.dumps({"arguments": arguments, "trials": records,
                                                   "summary": lines}, indent=1))
    (out / "summary.txt").write_text("\n".join(lines) + "\n")
    if montage:
        while len(montage) % 6:
            montage.append(np.zeros_like(montage[0]))
        rows = [np.hstack(montage[i:i + 6]) for i in range(0, len(montage), 6)]
        _write_rgb(out / "montage.png", np.vstack(rows))
    print("\n".join(lines), flush=True)
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = get_args_parser()
    args = parser.parse_args(argv)
    if args.summary_of:
        path = Path(args.summary_of)
        try:
            records, _ = load_trials(path)
            rankings = [r for r in RANKINGS if records and r in records[0]]
            print("\n".join(summarize(records, rankings)))
        except (OSError, KeyError, ValueError) as error:
            print(f"grasp-scorer-trials: cannot summarize {path}: {error!r}", file=sys.stderr)
            return 2
        return 0
    if args.compare:
        try:
            print("\n".join(compare_runs(*args.compare)))
        except (OSError, KeyError, ValueError) as error:
            print(f"grasp-scorer-trials: cannot compare: {error!r}", file=sys.stderr)
            return 2
        return 0
    if args.trials < 1:
        parser.error(f"--trials must be at least 1, got {args.trials}")
    if args.checkpoint and not Path(args.checkpoint).is_file():
        print(f"grasp-scorer-trials: checkpoint not found: {args.checkpoint}", file=sys.stderr)
        return 2
    return run_trials(args)


if __name__ == "__main__":
    raise SystemExit(main())
