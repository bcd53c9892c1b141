"""Small, fast models for the model-core tests (CPU, no weights, no download)."""
import torch

from grasp_scorer_ros.network.model import GraspScorerNet, ModelConfig


def tiny_config(**overrides) -> ModelConfig:
    """resnet18 at 64x64 (a 4x4 feature map) with a narrow scorer."""
    values = dict(backbone="resnet18", input_size=64, anchor_width=24.0, anchor_height=10.0,
                  scorer_conv_channels=32, scorer_delta_width=16, scorer_hidden=8,
                  num_scored_grasps=8)
    values.update(overrides)
    return ModelConfig(**values)


def tiny_model(seed: int = 0, **overrides) -> GraspScorerNet:
    torch.manual_seed(seed)
    return GraspScorerNet(tiny_config(**overrides), pretrained=False, warn_random_init=False)


def calibrate_batch_norm(model: GraspScorerNet, images: torch.Tensor) -> GraspScorerNet:
    """Give a randomly initialised model sane BatchNorm statistics, so eval-mode activations do not
    blow up (which would make float tolerances meaningless)."""
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None  # cumulative average
    model.train()
    with torch.no_grad():
        model(images)
    return model.eval()
