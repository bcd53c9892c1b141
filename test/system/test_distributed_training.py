"""Multi-process training (torch.distributed, 2 gloo processes on the CPU) against one process.

The runs use the tiny ResNet-18 at 64 px of test_train.py on a synthetic set written to disk, launched
as a user would: ``python -m torch.distributed.run --nproc_per_node 2 -m grasp_scorer_ros.training.train``.
The global batch is 3, so the ranks train on 1 and 2 images: an uneven split, where a plain DDP
average of per-rank mean losses would not be the single-process loss. ``--amp off``: this CPU may
compute bfloat16 natively, and bfloat16 rounding would hide what is compared; ``--scorer-jitter 0``:
the jitter's noise is drawn per rank (README, "Training on several processes").
"""
import csv
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch

from grasp_scorer_ros.datasets import load_dataset
from grasp_scorer_ros.datasets.prepared_cache import CachedGraspDataset, prepare_cache
from grasp_scorer_ros.datasets.torch_dataset import GraspTorchDataset
from grasp_scorer_ros.network.checkpoint import load_checkpoint
from grasp_scorer_ros.network.model import GraspScorerNet, ModelConfig
from grasp_scorer_ros.training import train
from grasp_scorer_ros.training.distributed import batch_part, init_distributed_mode
from grasp_scorer_ros.training.mixed_precision import grad_scaler, resolve_amp
from test_train import dataset  # noqa: F401 (the same small synthetic set, a fixture)


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


def test_two_processes_train_the_weights_of_one_process_on_the_global_batch(dataset, tmp_path):
    assert train.main(args_for(dataset, tmp_path / "one", 3)) == 0
    torchrun(args_for(dataset, tmp_path / "two", 3))
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
def two_process_runs(dataset, tmp_path_factory):
    """A 4-iteration 2-process run, and one stopped after iteration 2 (its last.pt)."""
    root = tmp_path_factory.mktemp("ddp")
    torchrun(args_for(dataset, root / "straight", 4))
    torchrun(args_for(dataset, root / "stopped", 2))
    return root


def test_a_stopped_two_process_run_resumes_exactly(dataset, two_process_runs):
    root = two_process_runs
    assert load_checkpoint(str(root / "stopped" / "last.pt"))["iteration"] == 2
    torchrun(args_for(dataset, root / "stopped", 4, "--resume", str(root / "stopped" / "last.pt")))
    straight, resumed = weights(root / "straight" / "final.pt"), weights(root / "stopped" / "final.pt")
    for name in straight:
        assert torch.equal(straight[name], resumed[name]), name
    assert [int(r["iteration"]) for r in train_rows(root / "stopped")] == [1, 2, 3, 4]


def test_a_two_process_checkpoint_resumes_on_one_process(dataset, two_process_runs, tmp_path):
    root = two_process_runs
    assert train.main(args_for(dataset, tmp_path / "one", 4, "--resume", str(root / "stopped" / "last.pt"))) == 0
    assert_close_weights(weights(root / "straight" / "final.pt"), weights(tmp_path / "one" / "final.pt"))


def test_a_rank_draws_its_part_of_the_batch_exactly_as_the_whole_batch_does(dataset):
    samples = load_dataset("jacquard", dataset)
    data = GraspTorchDataset(samples, train=True, size=64, seed=5, photometric=True)
    whole = train.IterationBatches(data, 5, seed=5, iterations=20, extra=6, extra_share=0.4)
    parts = [train.IterationBatches(data, 5, seed=5, iterations=20, extra=6, extra_share=0.4,
                                    part=batch_part(5, rank, 3)) for rank in range(3)]
    for iteration in (0, 7, 19):
        images, grasps = whole[iteration]
        pieces = [part[iteration] for part in parts]
        assert torch.equal(images, torch.cat([p[0] for p in pieces]))
        joined = [g for p in pieces for g in p[1]]
        assert len(joined) == len(grasps) and all(torch.equal(a, b) for a, b in zip(grasps, joined))


def test_batch_parts_cover_the_global_batch_once_and_refuse_too_small_a_batch():
    for batch, world in ((10, 1), (10, 3), (10, 4), (7, 7)):
        parts = [batch_part(batch, rank, world) for rank in range(world)]
        assert parts[0][0] == 0 and parts[-1][1] == batch
        assert all(a[1] == b[0] for a, b in zip(parts, parts[1:]))
        sizes = [stop - start for start, stop in parts]
        assert min(sizes) >= 1 and max(sizes) - min(sizes) <= 1
    with pytest.raises(ValueError, match="--nproc_per_node"):
        batch_part(2, 0, 4)


def test_without_torchrun_variables_the_run_is_one_plain_process():
    context = init_distributed_mode("cpu", environ={})
    assert not context.enabled and context.is_main and context.world_size == 1


def test_amp_resolution_on_every_kind_of_device():
    native, emulated = (True, "native"), (False, "no native bfloat16")
    assert resolve_amp("auto", "cuda", native).dtype == torch.bfloat16
    old_gpu = resolve_amp("auto", "cuda", emulated)
    assert old_gpu.dtype == torch.float16 and old_gpu.scaler
    assert resolve_amp("auto", "cpu", native).dtype == torch.bfloat16
    assert resolve_amp("auto", "cpu", emulated).dtype is None
    assert resolve_amp("none", "cuda", native).dtype is None and resolve_amp("off", "cpu").name == "off"
    assert resolve_amp("float16", "cuda", native).scaler
    assert "slow" in resolve_amp("bfloat16", "cpu", emulated).reason
    with pytest.raises(ValueError, match="needs a CUDA device"):
        resolve_amp("float16", "cpu")
    # --autocast, the option's old name, still parses (to the same destination)
    args = train.get_args_parser().parse_args(["--dataset", "jacquard", "--data-root", ".", "--autocast", "none"])
    assert args.amp == "none"


def test_a_disabled_grad_scaler_leaves_the_step_of_plain_float32():
    torch.manual_seed(0)
    steps = []
    for use_scaler in (False, True):
        model = torch.nn.Linear(3, 1)
        model.load_state_dict({"weight": torch.ones(1, 3), "bias": torch.zeros(1)})
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        loss = model(torch.arange(6.0).view(2, 3)).square().mean()
        if use_scaler:
            scaler = grad_scaler(resolve_amp("off", "cpu"), "cpu")
            assert not scaler.is_enabled() and scaler.scale(loss) is loss
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        steps.append(model.weight.detach().clone())
    assert torch.equal(*steps)


def test_the_prepared_cache_keeps_the_draws_and_the_grasps_and_is_remade_for_a_new_size(dataset, tmp_path):
    samples = load_dataset("jacquard", dataset)[:6]
    assert prepare_cache(samples, 64, tmp_path / "cache") == 6
    assert prepare_cache(samples, 64, tmp_path / "cache") == 0           # reused
    assert prepare_cache(samples, 96, tmp_path / "cache") == 6           # another input size
    plain = GraspTorchDataset(samples, train=True, size=64, seed=1, photometric=True)
    cached = CachedGraspDataset.for_cache(tmp_path / "cache")(samples, train=True, size=64, seed=1, photometric=True)
    for i in range(6):
        rng_a, rng_b = np.random.default_rng([1, i]), np.random.default_rng([1, i])
        (image_a, grasps_a), (image_b, grasps_b) = plain.item(i, rng_a), cached.item(i, rng_b)
        assert torch.allclose(grasps_a, grasps_b, atol=1e-4)     # same draws, same geometry
        assert rng_a.random() == rng_b.random()                  # and the generator left in the same place
        assert (image_a - image_b).abs().mean() < 0.05           # the pixels, resampled twice, stay close
        assert cached.source_size(i) == tuple(plain._read(i)[1].shape[:2])


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


def test_a_killed_two_process_run_resumes_exactly(dataset, tmp_path):
    """SIGKILL to every process of a 2-process run mid-training, then --resume from its last.pt: the
    weights and the log are those of the run that was never interrupted."""
    import time
    iterations = 30
    torchrun(args_for(dataset, tmp_path / "straight", iterations))
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
               "--master_addr", "127.0.0.1", "--master_port", str(free_port()),
               "-m", "grasp_scorer_ros.training.train", *args_for(dataset, out, iterations)]
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
    torchrun(args_for(dataset, out, iterations, "--resume", str(out / "last.pt")))
    straight, resumed = weights(tmp_path / "straight" / "final.pt"), weights(out / "final.pt")
    for name in straight:
        assert torch.equal(straight[name], resumed[name]), name
    assert [int(r["iteration"]) for r in train_rows(out)] == list(range(1, iterations + 1))
