"""``grasp-scorer-synth`` / ``python -m grasp_scorer_ros.synthetic``: write a synthetic grasp dataset."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

from tqdm import tqdm

from grasp_scorer_ros.synthetic.look import LOOKS
from grasp_scorer_ros.synthetic.scene import SceneConfig
from grasp_scorer_ros.synthetic.writer import MANIFEST_NAME, default_object_sets, format_grasp_statistics, write_dataset


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="grasp-scorer-synth",
        description="Generate top-down tabletop scenes with grasp rectangles that are correct by "
                    "construction, written in the Jacquard format (<i>_<objectid>_RGB.png + _grasps.txt).")
    parser.add_argument("--out", help="output folder (created if needed); required unless --grid")
    parser.add_argument("--count", type=int, default=100, help="number of scenes (default: 100)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; same seed, same dataset (default: 0)")
    parser.add_argument("--size", type=int, default=320, help="image side in pixels (default: 320)")
    parser.add_argument("--object-sets", type=int, default=None,
                        help="number of object sets, the object ids of object-wise splits "
                             "(default: count/8, at least 5)")
    parser.add_argument("--min-objects", type=int, default=1, help="fewest objects per scene (default: 1)")
    parser.add_argument("--max-objects", type=int, default=4, help="most objects per scene (default: 4)")
    parser.add_argument("--look", choices=sorted(LOOKS), default="train",
                        help="what the scenes look like: 'train' (the training families) or 'heldout' (shape, "
                             "table and pattern families never used for training; object ids heldout-setNNNN) "
                             "(default: train)")
    parser.add_argument("--grid", metavar="PATH",
                        help="write a picture of sample scenes of every look (2 rows of 6 each, seeded by --seed, "
                             "drawn at --size) to PATH and exit")
    parser.add_argument("--workers", type=int, default=1, help="processes generating scenes (default: 1)")
    parser.add_argument("--no-masks", action="store_true", help="do not write the _mask.png files")
    parser.add_argument("--depth", type=float, default=None, metavar="M",
                        help="also write <stem>_perfect_depth.tiff (float32 metres, Jacquard's): the depth a camera M "
                             "metres above the table sees, each object a prism 1.5-6 cm tall")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = get_args_parser()
    args = parser.parse_args(argv)
    if args.count < 1:
        parser.error(f"--count must be at least 1, got {args.count}")
    if args.object_sets is not None and args.object_sets < 1:
        parser.error(f"--object-sets must be at least 1, got {args.object_sets}")
    try:
        config = SceneConfig(size=args.size, min_objects=args.min_objects, max_objects=args.max_objects,
                             look=args.look)
    except ValueError as error:
        parser.error(str(error))
    if args.grid:
        from grasp_scorer_ros.synthetic.preview import write_look_grid
        try:
            picture = write_look_grid(args.grid, seed=args.seed, size=args.size, looks=tuple(LOOKS))
        except OSError as error:
            print(f"grasp-scorer-synth: {error}", file=sys.stderr)
            return 1
        print(f"wrote a grid of sample scenes ({', '.join(LOOKS)}; {picture.shape[1]}x{picture.shape[0]}) "
              f"to {args.grid}")
        return 0
    if not args.out:
        parser.error("--out is required (or --grid PATH)")
    object_sets = args.object_sets or default_object_sets(args.count)
    if args.workers < 1:
        parser.error(f"--workers must be at least 1, got {args.workers}")
    if args.depth is not None and not args.depth > 0.1:
        parser.error(f"--depth must be the camera's height above the table in metres (> 0.1), got {args.depth}")
    progress = None if args.quiet else (lambda it, total: tqdm(it, total=total, desc="scenes", unit="scene"))
    started = time.perf_counter()
    try:
        paths = write_dataset(args.out, args.count, seed=args.seed, config=config, object_sets=object_sets,
                              write_masks=not args.no_masks, progress=progress, workers=args.workers,
                              depth_camera_distance=args.depth)
    except OSError as error:
        print(f"grasp-scorer-synth: {error}", file=sys.stderr)
        return 1
    seconds = time.perf_counter() - started
    manifest = json.loads((Path(args.out) / MANIFEST_NAME).read_text(encoding="utf-8"))
    print(f"wrote {len(paths)} scenes ({object_sets} object sets, look {args.look}, seed {args.seed}) to {args.out} "
          f"in {seconds:.1f} s ({len(paths) / max(seconds, 1e-9):.0f} scenes/s)")
    print(format_grasp_statistics(manifest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
