"""Multi-process training (torch.distributed, 2 gloo processes on the CPU) against one process.

The runs use the tiny ResNet-18 at 64 px of test/training/test_train.py on a synthetic set written to
disk (``synthetic_set``, test/conftest.py), launched as a user would:
``python -m torch.distributed.run --nproc_per_node 2 -m grasp_scorer_ros.training.train``.
The global batch is 3, so the ranks train on 1 and 2 images: an uneven split, where a plain DDP
average of per-rank mean losses would not be the single-process loss. ``--amp off``: this CPU may
compute bfloat16 natively, and bfloat16 rounding would hide what is compared; ``--scorer-jitter 0``:
the jitter's noise is drawn per rank (README, "Training on several processes"). What needs no second
process is tested in test/training/test_distributed.py, test_mixed_precision.py and
test/datasets/test_prepared_cache.py.
"""
import csv
import os
import socket
import subprocess
import sys

import pytest
import torch

from grasp_scorer_ros.network.checkpoint import load_checkpoint
from grasp_scorer_ros.network.model import GraspScorerNet, ModelConfig
from grasp_scorer_ros.training import train


def args_for(dataset, out, iterations, *extra):
    return ["--dataset", "jacquard", "--data-root", str(dataset), "--backbone", "resnet18",
            "--input-size", "64", "--scorer-hidden", "8", "--batch-size", "3", "--T", "8",
            "--pretrained", "none", "--workers", "0", "--iterations", str(iterations),
            "--checkpoint-every", "2", "--eval-every", "0", "--eval-limit", "2", "--lr", "0.001",
            "--amp", "off", "--scorer-jitter", "0", "--threads", "1", "--out", str(out), *extra]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(argv, processes=2):
    """``grasp-scorer-train`` under torch.distributed.run; fails the test with the ranks' output."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes),
               "--master_addr", "127.0.0.1", "--master_port", str(free_port()),
               "-m", "grasp_scorer_ros.training.train", *argv]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    return done


def weights(path):
    return load_checkpoint(str(path))["state_dict"]


def assert_close_weights(a, b, rtol=1e-4, atol=1e-5):
    assert a.keys() == b.keys()
    for name in a:
        assert torch.allclose(a[name].float(), b[name].float(), rtol=rtol, atol=atol), (
            name, float((a[name].float() - b[name].float()).abs().max()))


def train_rows(run_dir):
    return [r for r in csv.DictReader((run_dir / "log.csv").open()) if r["kind"] == "train"]


def test_two_processes_train_the_weights_of_one_process_on_the_global_batch(synthetic_set, tmp_path):
    assert train.main(args_for(synthetic_set, tmp_path / "one", 3)) == 0
    torchrun(args_for(synthetic_set, tmp_path / "two", 3))
    one, two = weights(tmp_path / "one" / "final.pt"), weights(tmp_path / "two" / "final.pt")
    torch.manual_seed(0)  # the run's --seed: its initial weights
    config = ModelConfig.from_dict(load_checkpoint(str(tmp_path / "one" / "final.pt"))["config"])
    initial = GraspScorerNet(config, pretrained=False, warn_random_init=False).state_dict()
    moved = max(float((one[k] - initial[k]).abs().max()) for k in one if one[k].is_floating_point())
    assert moved > 1e-3  # training moved the weights 100x the tolerance: not a comparison of two inits
    assert_close_weights(one, two)
    # The logged losses are those of the global batch, not of rank 0's part.
    for a, b in zip(train_rows(tmp_path / "one"), train_rows(tmp_path / "two"), strict=True):
        for name in ("total", "intermediate", "regression_l1", "regression_scorer", "scorer"):
            assert float(a[name]) == pytest.approx(float(b[name]), rel=1e-4, abs=1e-5), (a["iteration"], name)
    # Only rank 0 wrote: one header, one row per iteration.
    assert [int(r["iteration"]) for r in train_rows(tmp_path / "two")] == [1, 2, 3]
    assert load_checkpoint(str(tmp_path / "two" / "final.pt"))["world_size"] == 2


@pytest.fixture(scope="module")
def two_process_runs(synthetic_set, tmp_path_factory):
    """A 4-iteration 2-process run, and one stopped after iteration 2 (its last.pt)."""
    root = tmp_path_factory.mktemp("ddp")
    torchrun(args_for(synthetic_set, root / "straight", 4))
    torchrun(args_for(synthetic_set, root / "stopped", 2))
    return root


def test_a_stopped_two_process_run_resumes_exactly(synthetic_set, two_process_runs):
    root = two_process_runs
    assert load_checkpoint(str(root / "stopped" / "last.pt"))["iteration"] == 2
    torchrun(args_for(synthetic_set, root / "stopped", 4, "--resume", str(root / "stopped" / "last.pt")))
    straight, resumed = weights(root / "straight" / "final.pt"), weights(root / "stopped" / "final.pt")
    for name in straight:
        assert torch.equal(straight[name], resumed[name]), name
    assert [int(r["iteration"]) for r in train_rows(root / "stopped")] == [1, 2, 3, 4]


def test_a_two_process_checkpoint_resumes_on_one_process(synthetic_set, two_process_runs, tmp_path):
    root = two_process_runs
    assert train.main(args_for(synthetic_set, tmp_path / "one", 4, "--resume", str(root / "stopped" / "last.pt"))) == 0
    assert_close_weights(weights(root / "straight" / "final.pt"), weights(tmp_path / "one" / "final.pt"))


def kill_every_process_of(out):
    """SIGKILL every process whose command line names ``out``: torch.distributed.run starts its ranks in
    sessions of their own, so killing the launcher's process group leaves them training."""
    import signal
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if str(out).encode() in open(f"/proc/{pid}/cmdline", "rb").read():
                os.kill(int(pid), signal.SIGKILL)
        except OSError:    # gone meanwhile
            pass


def test_a_killed_two_process_run_resumes_exactly(synthetic_set, tmp_path):
    """SIGKILL to every process of a 2-process run mid-training, then --resume from its last.pt: the
    weights and the log are those of the run that was never interrupted."""
    import time
    iterations = 30
    torchrun(args_for(synthetic_set, tmp_path / "straight", iterations))
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
               "--master_addr", "127.0.0.1", "--master_port", str(free_port()),
               "-m", "grasp_scorer_ros.training.train", *args_for(synthetic_set, out, iterations)]
    run = subprocess.Popen(command, env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while not (out / "last.pt").exists() and time.monotonic() < deadline and run.poll() is None:
            time.sleep(0.05)
        kill_every_process_of(out)             # the launcher and both ranks, at once
        run.wait(timeout=30)
    finally:
        kill_every_process_of(out)
    assert not (out / "final.pt").exists(), "the run ended before it could be killed"
    stopped_at = load_checkpoint(str(out / "last.pt"))["iteration"]
    assert 2 <= stopped_at < iterations
    torchrun(args_for(synthetic_set, out, iterations, "--resume", str(out / "last.pt")))
    straight, resumed = weights(tmp_path / "straight" / "final.pt"), weights(out / "final.pt")
    for name in straight:
        assert torch.equal(straight[name], resumed[name]), name
    assert [int(r["iteration"]) for r in train_rows(out)] == list(range(1, iterations + 1))
