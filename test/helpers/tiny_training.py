"""The command line of a tiny training run (resnet18 at 64 px, a few iterations) on a synthetic set: the
training tests' grasp-scorer-train arguments."""


def args_for(dataset, out, iterations, *extra):
    return ["--dataset", "jacquard", "--data-root", str(dataset), "--backbone", "resnet18",
            "--input-size", "64", "--scorer-hidden", "8", "--batch-size", "2", "--T", "8",
            "--pretrained", "none", "--workers", "0", "--iterations", str(iterations),
            "--checkpoint-every", "2", "--eval-every", "0", "--eval-limit", "4", "--lr", "0.001",
            "--out", str(out), *extra]
