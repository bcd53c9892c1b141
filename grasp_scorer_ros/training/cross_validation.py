"""Cross-validation in one command: the K object-wise folds trained, each held-out fold evaluated,
and the paper's Table I (per fold, mean +- std) assembled, resumable at any point.

Table I on Jacquard (5 object-wise folds, ResNet-50 from ImageNet weights, 100k iterations, the
scorer's model and the baseline without a scorer)::

    grasp-scorer-crossval --dataset jacquard --data-root /data/jacquard --out runs/cv --with-baseline \\
        --iterations 100000 --backbone resnet50 --pretrained required

Every option that is not listed under "cross-validation" below is grasp-scorer-train's and is given
as is to each fold's training run (a ``--`` may separate them from the cross-validation's own);
``--fold``, ``--out`` and ``--resume`` are set per fold. The split options (--dataset, --data-root,
--split, --folds, --split-seed) mean what they mean for grasp-scorer-train and grasp-scorer-evaluate.

Layout of ``--out``::

    crossval.json                     the options the cross-validation was started with
    <variant>/fold<k>/                grasp-scorer-train's --out of fold k (final.pt, last.pt, log.csv, ...)
    <variant>/fold<k>/train.log       that run's console output
    <variant>/fold<k>/evaluation/     grasp-scorer-evaluate on fold k's held-out images (results.json)
    baseline/fold<k>/                 the same for the baseline variant (--with-baseline)
    table.txt, table.json             the table (also printed), re-written after each evaluated fold
    accuracies.png                    per-fold accuracies as bars

Running the same command again continues where it stopped: a fold with final.pt is not trained
again, a fold with only last.pt continues from it (``--resume``, exact), a fold whose results.json
exists is not evaluated again, and the table is assembled from the evaluations that exist. A
command whose options differ from those in crossval.json is refused, naming the options (the
options of how a run is carried out, --device, --threads, --workers, --checkpoint-every,
--eval-every and --eval-limit, may change; --with-baseline may be added later).

Folds run one after another, or with ``--parallel-folds`` one per CUDA device (``--nproc-per-fold
N``: one per N devices, each fold under ``python -m torch.distributed.run --nproc_per_node N``, which
needs a grasp-scorer-train that trains with torch.distributed); without CUDA they run one after another.
"""
from __future__ import annotations

import argparse
import codecs
import json
import logging
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch

from grasp_scorer_ros.network.checkpoint import load_checkpoint
from grasp_scorer_ros.training import evaluate, train
from grasp_scorer_ros.training.paired_statistics import compare_paired

logger = logging.getLogger("grasp_scorer_ros.crossval")

PROG = "grasp-scorer-crossval"
# grasp-scorer-train's options that the cross-validation owns: given once, the same for every fold.
SHARED = ("dataset", "data_root", "split", "folds", "split_seed")
# ... and those it sets for each fold, or that would make the folds' runs collide.
PER_FOLD = {"fold": "set for each fold", "out": "each fold's is --out/<variant>/fold<k>",
            "resume": "a fold continues from its own last.pt", "export_half": "one file for K models"}
# Training options that change how a run is carried out, not what it computes: they may differ
# between the start of a cross-validation and its continuation.
HOW_NOT_WHAT = ("device", "threads", "workers", "checkpoint_every", "eval_every", "eval_limit")
EVALUATION = ("limit", "limit_seed", "angle_threshold", "iou_threshold")
OPTIONS_FILE = "crossval.json"
BASELINE = "baseline"


def training_options_help() -> str:
    """grasp-scorer-train's options, for this command's --help (they are accepted here as they are)."""
    parser = train.get_args_parser()
    parser.description, parser.usage = None, argparse.SUPPRESS
    return ("training options (grasp-scorer-train's, given to each fold's run; --fold, --out and --resume "
            "are set per fold; --dataset, --data-root, --split, --folds, --split-seed are the "
            "cross-validation's above):\n" + parser.format_help())


def get_args_parser() -> argparse.ArgumentParser:
    """The cross-validation's own options; everything else is passed through to grasp-scorer-train."""
    defaults = evaluate.get_args_parser()
    p = argparse.ArgumentParser(prog=PROG, description=__doc__, epilog=training_options_help(),
                                formatter_class=argparse.RawDescriptionHelpFormatter, allow_abbrev=False)
    cv = p.add_argument_group("cross-validation")
    cv.add_argument("--dataset", choices=["cornell", "jacquard"], required=True)
    cv.add_argument("--data-root", type=Path, required=True)
    cv.add_argument("--split", choices=["image", "object"], default="object")
    cv.add_argument("--folds", type=int, default=5, help="K (default: 5); every fold is trained and evaluated")
    cv.add_argument("--split-seed", type=int, default=0)
    cv.add_argument("--out", type=Path, required=True, help="the cross-validation's folder (see above)")
    cv.add_argument("--with-baseline", action="store_true",
                    help="also train and evaluate --variant baseline (no scorer) on the same folds")
    cv.add_argument("--parallel-folds", action="store_true",
                    help="one fold per CUDA device (per --nproc-per-fold devices) at a time")
    cv.add_argument("--nproc-per-fold", type=int, default=1,
                    help="train each fold under torch.distributed.run with N processes (default: 1, plain)")
    ev = p.add_argument_group("evaluation of each held-out fold (grasp-scorer-evaluate's options)")
    ev.add_argument("--limit", type=int, default=defaults.get_default("limit"),
                    help="a seeded sample of N held-out images covering every object (0: all)")
    ev.add_argument("--limit-seed", type=int, default=defaults.get_default("limit_seed"))
    ev.add_argument("--angle-threshold", type=float, default=defaults.get_default("angle_threshold"))
    ev.add_argument("--iou-threshold", type=float, default=defaults.get_default("iou_threshold"))
    return p


class _Unset:
    def __repr__(self):
        return "<unset>"


UNSET = _Unset()


def _option(parser: argparse.ArgumentParser, dest: str) -> str:
    for action in parser._actions:
        if action.dest == dest and action.option_strings:
            return max(action.option_strings, key=len)
    return "--" + dest.replace("_", "-")


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str], argparse.Namespace]:
    """(cross-validation options, training argv to pass through, that argv as grasp-scorer-train reads it)."""
    if "--" in argv:
        at = argv.index("--")
        before, after = argv[:at], argv[at + 1:]
    else:
        before, after = argv, []
    parser = get_args_parser()
    args, extras = parser.parse_known_args(before)
    train_argv = extras + after
    # The passed-through options read by grasp-scorer-train's own parser (abbreviations and all), with
    # the options this command owns marked unset, to tell which of them were given.
    checker = train.get_args_parser()
    checker.prog = f"{PROG} (training options)"
    for action in checker._actions:
        if action.dest in SHARED or action.dest in PER_FOLD:
            action.default, action.required = UNSET, False
    given = checker.parse_args(train_argv)
    owned = [dest for dest in (*SHARED, *PER_FOLD) if getattr(given, dest, UNSET) is not UNSET]
    if owned:
        reasons = [f"{_option(checker, d)} ({PER_FOLD[d] if d in PER_FOLD else 'a cross-validation option: give it before --'})"
                   for d in owned]
        parser.error("not a training option here: " + "; ".join(reasons))
    if args.folds < 2:
        parser.error(f"--folds must be at least 2, got {args.folds}")
    if args.nproc_per_fold < 1:
        parser.error(f"--nproc-per-fold must be at least 1, got {args.nproc_per_fold}")
    training = train.get_args_parser().parse_args([*shared_argv(args), *train_argv])
    if args.with_baseline and training.variant == BASELINE:
        parser.error("--with-baseline trains the baseline besides the model, but the model is --variant baseline")
    return args, train_argv, training


def shared_argv(args: argparse.Namespace) -> list[str]:
    return ["--dataset", args.dataset, "--data-root", str(args.data_root), "--split", args.split,
            "--folds", str(args.folds), "--split-seed", str(args.split_seed)]


def recorded_options(args: argparse.Namespace, training: argparse.Namespace) -> dict:
    """What a cross-validation's results depend on, as crossval.json stores it."""
    cross_validation = {name: train.plain_argument(getattr(args, name)) for name in (*SHARED, *EVALUATION)}
    cross_validation["data_root"] = str(Path(args.data_root).resolve())
    training_options = {k: train.plain_argument(v) for k, v in sorted(vars(training).items())
                        if k not in SHARED and k not in PER_FOLD and k not in HOW_NOT_WHAT}
    return {"cross_validation": cross_validation, "training": training_options}


def differing_options(stored: dict, now: dict) -> list[str]:
    """``--option: stored -> now`` for every recorded option that differs (an option one side did not
    record, such as one grasp-scorer-train gained since, counts as its default there)."""
    parsers = {"cross_validation": get_args_parser(), "training": train.get_args_parser()}
    lines = []
    for section, parser in parsers.items():
        old, new = stored.get(section, {}), now[section]
        for name in sorted(set(old) | set(new)):
            default = train.plain_argument(parser.get_default(name))
            before, after = old.get(name, default), new.get(name, default)
            if json.loads(json.dumps(before)) != json.loads(json.dumps(after)):
                lines.append(f"{_option(parser, name)}: {before!r} -> {after!r}")
    return lines


def check_options(out: Path, options: dict, command: str) -> None:
    """Record the options of a new cross-validation in ``out``, or refuse to continue one started with others."""
    path = out / OPTIONS_FILE
    if path.exists():
        stored = json.loads(path.read_text())
        differences = differing_options(stored, options)
        if differences:
            raise ValueError(
                f"{out} holds a cross-validation started with other options; a continuation must repeat them "
                f"(or use another --out). Differing (started with -> now):\n  " + "\n  ".join(differences)
                + f"\nstarted as: {stored.get('command', '?')}")
        return
    if any(out.glob("*/fold*/final.pt")) or any(out.glob("*/fold*/last.pt")):
        raise ValueError(f"{out} holds training runs but no {OPTIONS_FILE}: not a cross-validation this command "
                         f"started; use another --out")
    out.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({**options, "command": command}, indent=2) + "\n")
    tmp.replace(path)


class Run:
    """One training run of the cross-validation: a variant on a fold."""

    def __init__(self, out: Path, variant: str, fold: int):
        self.variant, self.fold = variant, fold
        self.dir = out / variant / f"fold{fold}"
        self.final, self.last = self.dir / "final.pt", self.dir / "last.pt"
        self.results = self.dir / "evaluation" / "results.json"

    @property
    def name(self) -> str:
        return f"{self.variant} fold {self.fold}"

    def evaluation(self) -> dict | None:
        """The fold's evaluated model (results.json's entry), if its evaluation of final.pt is complete."""
        if not self.final.exists() or not self.results.exists():
            return None
        if self.results.stat().st_mtime < self.final.stat().st_mtime:
            return None  # final.pt is newer: evaluate it again
        try:
            return json.loads(self.results.read_text())["models"][0]
        except (ValueError, KeyError, IndexError):
            return None  # an evaluation killed while writing

    def argv(self, args, train_argv: list[str]) -> list[str]:
        argv = [*shared_argv(args), "--fold", str(self.fold), "--out", str(self.dir), *train_argv]
        if self.variant == BASELINE:
            argv += ["--variant", BASELINE]
        if self.last.exists():
            argv += ["--resume", str(self.last)]
        return argv


def last_iteration(log_csv: Path) -> int | None:
    """The last training iteration in a run's log.csv (read from its end: the log grows to 100k rows)."""
    try:
        with log_csv.open("rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 4096))
            lines = f.read().decode(errors="replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        fields = line.split(",")
        if len(fields) > 1 and fields[0] == "train" and fields[1].isdigit():
            return int(fields[1])
    return None


def training_command(argv: list[str], nproc: int) -> list[str]:
    if nproc == 1:
        return [sys.executable, "-m", "grasp_scorer_ros.training.train", *argv]
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
            "-m", "grasp_scorer_ros.training.train", *argv]


class Training:
    """A fold's training process; its console output goes to the fold's train.log (and, when
    ``echo``, to this program's own)."""

    def __init__(self, run: Run, command: list[str], devices: list[str] | None, echo: bool):
        self.run = run
        run.dir.mkdir(parents=True, exist_ok=True)
        self.log = (run.dir / "train.log").open("ab")
        visible = f"CUDA_VISIBLE_DEVICES={','.join(devices)} " if devices is not None else ""
        self.log.write(f"\n$ {visible}{shlex.join(command)}\n".encode())
        self.log.flush()
        env = dict(os.environ)
        if devices is not None:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(devices)
        self.process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE if echo else self.log,
                                        stderr=subprocess.STDOUT)
        self.thread = None
        if echo:
            self.thread = threading.Thread(target=self._tee, daemon=True)
            self.thread.start()

    def _tee(self):
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        for chunk in iter(lambda: self.process.stdout.read1(8192), b""):
            self.log.write(chunk)
            self.log.flush()
            sys.stdout.write(decoder.decode(chunk))
            sys.stdout.flush()

    def poll(self) -> int | None:
        code = self.process.poll()
        if code is not None:
            self.close()
        return code

    def close(self):
        if self.thread is not None:
            self.thread.join()
            self.thread = None
        self.log.close()


def device_groups(parallel: bool, nproc: int, device: str) -> list[list[str] | None]:
    """The CUDA devices of each fold run at a time (``[None]``: one run at a time, devices as they are)."""
    if not parallel or device == "cpu":
        return [None]
    count = torch.cuda.device_count()
    if count == 0:
        logger.info("--parallel-folds: no CUDA device, the folds run one after another")
        return [None]
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    ids = visible.split(",")[:count] if visible else [str(i) for i in range(count)]
    groups = [ids[i:i + nproc] for i in range(0, count - nproc + 1, nproc)]
    if not groups:
        raise ValueError(f"--nproc-per-fold {nproc} needs {nproc} CUDA devices, {count} found")
    logger.info("--parallel-folds: %d folds at a time, on CUDA devices %s", len(groups),
                " | ".join(",".join(g) for g in groups))
    return groups


def evaluate_run(run: Run, args, training: argparse.Namespace, device: str) -> None:
    """grasp-scorer-evaluate on the run's held-out fold (its results.json in run.dir/evaluation)."""
    logger.info("%s: evaluating %s on the held-out fold", run.name, run.final)
    argv = [*shared_argv(args), "--checkpoints", str(run.final), "--first-fold", str(run.fold),
            "--device", device, "--threads", str(training.threads), "--out", str(run.results.parent),
            *(f"--{name.replace('_', '-')}={getattr(args, name)}" for name in EVALUATION)]
    run.results.unlink(missing_ok=True)
    if evaluate.main(argv) != 0:
        raise RuntimeError(f"{run.name}: evaluation failed (grasp-scorer-evaluate {shlex.join(argv)})")


# -- the table ------------------------------------------------------------------------------------
def assemble_table(args, runs: list[Run], training: argparse.Namespace) -> tuple[str, dict]:
    """Table I from the evaluations that exist: (text, JSON-ready dict)."""
    results: dict[str, dict[int, dict]] = {}
    for run in runs:
        entry = run.evaluation()
        if entry is not None:
            results.setdefault(run.variant, {})[run.fold] = evaluate.load_result(entry)
    model, baseline = results.get(training.variant, {}), results.get(BASELINE, {})
    if training.variant == BASELINE:
        baseline = {}
    with_baseline = any(run.variant == BASELINE for run in runs) and training.variant != BASELINE
    folds = sorted(model)
    header = (f"Cross-validation on {args.dataset} ({Path(args.data_root).resolve()}), {args.folds} {args.split}-wise "
              f"folds, split seed {args.split_seed}; {training.backbone}, {training.iterations} iterations; "
              f"{len(folds)} of {args.folds} folds evaluated"
              + (f", baseline on {len(baseline)}" if with_baseline else ""))
    summary = {"dataset": args.dataset, "data_root": str(Path(args.data_root).resolve()), "split": args.split,
               "folds": args.folds, "split_seed": args.split_seed, "backbone": training.backbone,
               "variant": training.variant, "iterations": training.iterations,
               "complete": len(folds) == args.folds and (not with_baseline or len(baseline) == args.folds),
               "std_ddof": 0, "rows": [], "mean": {}, "std": {},
               "comparisons": {"per_fold": {}, "pooled": []}}
    if not folds:
        return header + "\nno fold evaluated yet", summary
    rows = [{"fold": k, **{key: model[k][key] for key in ("images", "primary_accuracy", "final_accuracy",
                                                          "final_ranking")}} for k in folds]
    for row in rows:
        if row["fold"] in baseline:
            row["baseline_accuracy"] = baseline[row["fold"]]["final_accuracy"]
    summary["rows"] = rows
    columns = {"primary": [r["primary_accuracy"] for r in rows], "final": [r["final_accuracy"] for r in rows]}
    if with_baseline and baseline:
        columns["baseline"] = [b["final_accuracy"] for b in baseline.values()]
    summary["mean"] = {name: float(np.mean(v)) for name, v in columns.items()}
    summary["std"] = {name: float(np.std(v)) for name, v in columns.items()}  # ddof=0, as grasp-scorer-evaluate

    lines = [header, evaluate.format_fold_table([model[k] | {"fold": k} for k in folds], training.variant,
                                                training.backbone, baseline if with_baseline else None),
             "(mean +- std over folds; the final score is the model's " f"{model[folds[0]]['final_ranking']} ranking)", ""]
    for k in folds:
        comparisons = list(model[k]["comparisons"])
        if k in baseline:
            comparisons.append(_against_baseline(model[k], baseline[k], training.variant))
        summary["comparisons"]["per_fold"][str(k)] = [c.to_dict() for c in comparisons]
        lines += evaluate.describe_model(f"fold {k}", {**model[k], "comparisons": comparisons}) + [""]
    pooled = evaluate.pool_folds([model[k] for k in folds])
    shared = [k for k in folds if k in baseline]
    if shared:
        pooled["comparisons"].append(_against_baseline(evaluate.pool_folds([model[k] for k in shared]),
                                                       evaluate.pool_folds([baseline[k] for k in shared]),
                                                       training.variant, shared if len(shared) < len(folds) else None))
    summary["comparisons"]["pooled"] = [c.to_dict() for c in pooled["comparisons"]]
    lines += evaluate.describe_model(f"all {len(folds)} folds pooled", pooled)
    return "\n".join(lines), summary


def _against_baseline(result: dict, baseline: dict, variant: str, folds=None):
    """The model's final score against the baseline's, image by image (the same held-out images)."""
    mine, theirs = result["correct"][result["final_ranking"]], baseline["correct"][baseline["final_ranking"]]
    if len(mine) != len(theirs):
        raise ValueError(f"the model and the baseline were evaluated on {len(mine)} and {len(theirs)} images")
    suffix = f" (folds {', '.join(map(str, folds))})" if folds else ""
    return compare_paired(mine, theirs, f"{variant} final score", f"baseline{suffix}")


def write_picture(summary: dict, path: Path) -> None:
    """Per-fold accuracies as grouped bars, and their mean +- std."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = summary["rows"]
    columns = [("baseline", "baseline_accuracy", "tab:grey"), ("primary score", "primary_accuracy", "tab:blue"),
               ("final score", "final_accuracy", "tab:green")]
    columns = [c for c in columns if any(c[1] in r for r in rows)]
    labels = [f"fold {r['fold']}" for r in rows] + ["mean"]
    width = 0.8 / len(columns)
    fig, ax = plt.subplots(figsize=(1.2 + 1.1 * len(labels), 3.8))
    for i, (name, key, colour) in enumerate(columns):
        values = [100 * r.get(key, np.nan) for r in rows]
        mean_key = {"baseline_accuracy": "baseline", "primary_accuracy": "primary", "final_accuracy": "final"}[key]
        x = np.arange(len(labels)) + (i - (len(columns) - 1) / 2) * width
        ax.bar(x[:-1], values, width, color=colour, label=name)
        ax.bar(x[-1], 100 * summary["mean"][mean_key], width, color=colour,
               yerr=100 * summary["std"][mean_key], capsize=3)
    ax.set_xticks(np.arange(len(labels)), labels)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("held-out top-1 accuracy (%)")
    ax.set_title(f"{summary['dataset']}, {summary['folds']} {summary['split']}-wise folds, {summary['backbone']}")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    tmp.replace(path)


def write_table(args, runs, training, echo: bool = False) -> str:
    text, summary = assemble_table(args, runs, training)
    for name, content in (("table.txt", text + "\n"), ("table.json", json.dumps(summary, indent=2) + "\n")):
        tmp = args.out / f"{name}.tmp"
        tmp.write_text(content)
        tmp.replace(args.out / name)
    if summary["rows"]:
        write_picture(summary, args.out / "accuracies.png")
    if echo:
        print(text)
    return text


# -- the program ----------------------------------------------------------------------------------
def cross_validate(args, train_argv: list[str], training: argparse.Namespace) -> int:
    variants = [training.variant] + ([BASELINE] if args.with_baseline else [])
    runs = [Run(args.out, variant, k) for variant in variants for k in range(args.folds)]
    eval_device = training.device if training.device != "auto" else (
        "cuda" if torch.cuda.is_available() else "cpu")
    to_train = []
    for run in runs:
        if run.final.exists():
            state = "trained (final.pt), not trained again"
        elif run.last.exists():
            state = f"resuming from last.pt (iteration {load_checkpoint(str(run.last))['iteration']})"
            to_train.append(run)
        else:
            state = "to train"
            to_train.append(run)
        evaluated = run.evaluation() is not None
        logger.info("%s: %s%s", run.name, state, ", evaluated" if evaluated else "")
    for run in runs:  # trained before but not evaluated
        if run not in to_train and run.evaluation() is None:
            evaluate_run(run, args, training, eval_device)
            write_table(args, runs, training)

    groups = device_groups(args.parallel_folds, args.nproc_per_fold, training.device)
    echo = len(groups) == 1
    pending, running, failed = list(to_train), {}, []

    def device_of(slot: int) -> str:
        """Where a finished run is evaluated: a parallel fold on its first device (numbered here from 0)."""
        if groups[slot] is None or eval_device == "cpu":
            return eval_device
        return f"cuda:{slot * args.nproc_per_fold}"
    last_report = time.monotonic()
    try:
        while pending or running:
            for slot, devices in enumerate(groups):
                if slot not in running and pending and not failed:
                    run = pending.pop(0)
                    run.results.unlink(missing_ok=True)  # evaluated a model this run replaces
                    command = training_command(run.argv(args, train_argv), args.nproc_per_fold)
                    logger.info("%s: training (%d of %d)%s -> %s", run.name, len(to_train) - len(pending),
                                len(to_train), f" on CUDA {','.join(devices)}" if devices else "", run.dir)
                    running[slot] = Training(run, command, devices, echo)
            if not running:
                break
            time.sleep(0.2)
            for slot, job in list(running.items()):
                code = job.poll()
                if code is None:
                    continue
                del running[slot]
                if code != 0 or not job.run.final.exists():
                    logger.error("%s: training failed (exit %s); its output: %s", job.run.name, code,
                                 job.run.dir / "train.log")
                    failed.append(job.run)
                    continue
                evaluate_run(job.run, args, training, device_of(slot))
                write_table(args, runs, training)
            if not echo and running and time.monotonic() - last_report > 60:
                last_report = time.monotonic()
                logger.info("progress: " + ", ".join(
                    f"{job.run.name} iteration {last_iteration(job.run.dir / 'log.csv') or 0}/{training.iterations}"
                    for job in running.values()))
    except KeyboardInterrupt:
        for job in running.values():  # each stops at its own Ctrl-C; its last.pt is where it continues
            job.process.send_signal(signal.SIGINT)
            try:
                job.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                job.process.kill()
            job.close()
        print(f"{PROG}: interrupted; the same command continues where it stopped", file=sys.stderr)
        return 130
    print()
    write_table(args, runs, training, echo=True)
    print(f"wrote {args.out / 'table.txt'}, {args.out / 'table.json'}")
    if failed:
        print(f"{PROG}: training failed for {', '.join(r.name for r in failed)}; the same command retries them",
              file=sys.stderr)
        return 1
    return 0


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    argv = sys.argv[1:] if argv is None else list(argv)
    args, train_argv, training = parse(argv)
    command = shlex.join([PROG, *argv])
    try:
        check_options(args.out, recorded_options(args, training), command)
        return cross_validate(args, train_argv, training)
    except (FileNotFoundError, ValueError, RuntimeError) as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
