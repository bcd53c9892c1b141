"""Mixed precision in training (training/mixed_precision.py): which autocast type each device gets, and
a disabled grad scaler that leaves the plain float32 step."""
import pytest
import torch

from grasp_scorer_ros.training import train
from grasp_scorer_ros.training.mixed_precision import grad_scaler, resolve_amp


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
