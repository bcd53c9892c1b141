"""Export a checkpoint's FE + PGP to ONNX (float32, or int8), checked against torch.

    grasp-scorer-export --out model.onnx                       # the bundled checkpoint, float32
    grasp-scorer-export --checkpoint runs/full/final.pt --out model.onnx
    grasp-scorer-export --int8 --out model_int8.onnx \\
        --check objects=runs/synth:fold0 --check look=runs/look_test --require-within 0.5

The float32 graph must reproduce torch's outputs (largest difference over the output's largest
magnitude at most 1e-4, on generated scenes), or nothing is written. ``--int8`` quantizes it
(:mod:`~grasp_scorer_ros.network.quantization`), calibrated on ``--calibration-images`` scenes of
the synthetic generator or on the images of ``--calibration-root`` (a Jacquard-layout set such as
your own camera's). ``--check NAME=DIR[:foldK]`` measures top-1 accuracy (rectangle metric, final
score, as the detection node ranks) of torch float32 and of the exported graph in ``--engine`` on
the same images, paired; ``--require-within P`` removes the graph and exits 1 when it is more than
P points worse on any of them. Writes ``<out>.json`` with every figure. The detection node runs
the result with ``engine:=openvino`` (or ``onnxruntime``) and ``onnx_model:=<out>``.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch
from tqdm import tqdm

from grasp_scorer_ros import bundled
from grasp_scorer_ros.network.checkpoint import load_model
from grasp_scorer_ros.network.detector import GraspDetector
from grasp_scorer_ros.network.engines import OnnxRuntimeEngine
from grasp_scorer_ros.network.metric import is_grasp_correct
from grasp_scorer_ros.network.onnx_export import export_onnx, file_sha256, output_errors
from grasp_scorer_ros.network.precision import resolve_precision
from grasp_scorer_ros.network.image_transform import network_input
from grasp_scorer_ros.network.quantization import quantize_int8
from grasp_scorer_ros.training.paired_statistics import compare_paired

LOG = logging.getLogger("grasp_scorer_ros.export")
FLOAT32_TOLERANCE = 1e-4   # relative to each output's largest magnitude


def generated_scenes(count: int, seed: int):
    """``count`` RGB scenes of the synthetic generator's training look (480 px, as the demo's)."""
    from grasp_scorer_ros.synthetic import SceneConfig, generate_scene, make_object_pool
    config = SceneConfig(size=480)
    pool = make_object_pool(seed, 20, config)
    return [generate_scene(i, seed, pool, config).image for i in range(count)]


def dataset_images(root: Path, count: int):
    from grasp_scorer_ros.datasets import load_jacquard
    from grasp_scorer_ros.datasets.sample import load_rgb
    samples = load_jacquard(root)
    if not samples:
        raise ValueError(f"no images in {root}")
    keep = np.random.default_rng(0).permutation(len(samples))[:count]
    return [load_rgb(samples[i].image_path) for i in sorted(keep)]


def check_samples(spec: str, limit: int):
    """``NAME=DIR[:foldK]`` -> (name, samples), the look study's convention."""
    from grasp_scorer_ros.datasets.named_sets import load_named_set
    name, _, samples = load_named_set(spec, limit)
    return name, samples


def top1_correct(detector: GraspDetector, samples, progress: bool, label: str) -> np.ndarray:
    from grasp_scorer_ros.datasets.sample import load_rgb
    correct = []
    for sample in tqdm(samples, desc=label, disable=not progress, leave=False):
        if len(sample.grasps) == 0:
            continue
        best = detector.detect(load_rgb(sample.image_path), top_k=1).grasps[0]
        correct.append(bool(is_grasp_correct(best, np.asarray(sample.grasps, np.float64), 30.0, 0.25)))
    return np.array(correct, dtype=bool)


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="grasp-scorer-export", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, default=None, help="default: the bundled checkpoint")
    p.add_argument("--out", type=Path, required=True, help="the .onnx file to write")
    p.add_argument("--int8", action="store_true", help="static int8 quantization of the float32 graph")
    p.add_argument("--calibration-root", type=Path, default=None,
                   help="Jacquard-layout images to calibrate int8 on (default: generated scenes)")
    p.add_argument("--calibration-images", type=int, default=64)
    p.add_argument("--calibration-seed", type=int, default=4243, help="generator seed of the calibration scenes")
    p.add_argument("--check", action="append", default=[], metavar="NAME=DIR[:foldK]",
                   help="compare top-1 accuracy with torch float32 on these images (repeatable)")
    p.add_argument("--check-limit", type=int, default=0, help="a seeded sample of N images per check (0: all)")
    p.add_argument("--engine", choices=["openvino", "onnxruntime"], default="openvino",
                   help="runtime of the checks")
    p.add_argument("--precision", default="auto",
                   help="the float layers' precision in the checks (openvino): auto, float32, bfloat16")
    p.add_argument("--require-within", type=float, default=None, metavar="POINTS",
                   help="remove the graph and exit 1 if it is more than POINTS worse on any check")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--no-progress", action="store_true")
    return p


def run(args: argparse.Namespace) -> dict:
    checkpoint = Path(args.checkpoint or bundled.default_checkpoint_path())
    model = load_model(str(checkpoint))
    sha = file_sha256(checkpoint)
    out = Path(args.out)
    float_path = out.with_name(out.stem + ".float32.onnx") if args.int8 else out
    export_onnx(model, float_path, sha)
    report = {"checkpoint": str(checkpoint), "checkpoint_sha256": sha, "out": str(out),
              "precision": "int8" if args.int8 else "float32"}
    probe = torch.from_numpy(np.concatenate([network_input(rgb, model.config.input_size)[0]
                                             for rgb in generated_scenes(4, 777)]))
    runner = OnnxRuntimeEngine(float_path, args.threads)
    report["float32_errors"] = output_errors(model, runner, probe)
    worst = max(e["relative"] for e in report["float32_errors"].values())
    print(f"float32 graph {float_path}: largest difference to torch {worst:.2e} of the output's magnitude")
    if worst > FLOAT32_TOLERANCE:
        float_path.unlink()
        raise RuntimeError(f"the exported graph does not reproduce torch ({worst:.2e} > {FLOAT32_TOLERANCE}); "
                           f"nothing written")
    if args.int8:
        if args.calibration_root:
            calibration = dataset_images(args.calibration_root, args.calibration_images)
        else:
            calibration = generated_scenes(args.calibration_images, args.calibration_seed)
        quantize_int8(float_path, out, calibration)
        report["calibration"] = {"images": len(calibration),
                                 "source": str(args.calibration_root or f"generated, seed {args.calibration_seed}")}
        report["int8_errors"] = output_errors(model, OnnxRuntimeEngine(out, args.threads), probe)
        worst8 = max(e["relative"] for e in report["int8_errors"].values())
        print(f"int8 graph {out} ({len(calibration)} calibration images): largest difference to torch "
              f"float32 {worst8:.3f} of the output's magnitude")

    failed = []
    if args.check:
        dtype, why = resolve_precision(args.precision, "cpu")
        reference = GraspDetector(str(checkpoint), num_threads=args.threads)
        exported = GraspDetector(str(checkpoint), num_threads=args.threads, dtype=dtype,
                                 channels_last=dtype == "bfloat16", engine=args.engine, onnx_model=str(out))
        label = f"{args.engine} {exported.engine.precision}"
        print(f"checks: torch float32 against {exported.engine.description}, scorer in torch {dtype} ({why})")
        report["checks"] = {}
        for spec in args.check:
            name, samples = check_samples(spec, args.check_limit)
            a = top1_correct(reference, samples, not args.no_progress, f"{name}: torch float32")
            b = top1_correct(exported, samples, not args.no_progress, f"{name}: {label}")
            comparison = compare_paired(b, a, label, "torch float32")
            print(f"  {name}: {comparison.summary()}")
            report["checks"][name] = {"images": int(len(a)), "float32_accuracy": float(a.mean()),
                                      "exported_accuracy": float(b.mean()),
                                      "difference": comparison.difference,
                                      "interval": list(comparison.difference_interval),
                                      "mcnemar_p": comparison.mcnemar_p, "summary": comparison.summary()}
            if args.require_within is not None and 100 * comparison.difference < -args.require_within:
                failed.append(f"{name}: {100 * comparison.difference:+.1f} points")
    report["accepted"] = not failed
    out.with_suffix(".json").write_text(json.dumps(report, indent=2))
    if failed:
        out.unlink(missing_ok=True)
        print(f"refused: more than {args.require_within} points worse than float32 on {', '.join(failed)}; "
              f"{out} removed (figures in {out.with_suffix('.json')})")
    else:
        print(f"wrote {out} and {out.with_suffix('.json')}")
    return report


def main(argv: Optional[Sequence[str]] = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("onnx_ir", "onnxscript", "torch.onnx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    args = get_args_parser().parse_args(argv)
    try:
        report = run(args)
    except (FileNotFoundError, ValueError, ImportError, RuntimeError) as error:
        print(f"grasp-scorer-export: {error}", file=sys.stderr)
        return 2
    return 0 if report["accepted"] else 1


if __name__ == "__main__":
    sys.exit(main())
