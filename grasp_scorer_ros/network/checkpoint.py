"""Checkpoints that carry their model configuration, so loading rebuilds the exact network.

A checkpoint is a ``torch.save``'d dict::

    {"format": "grasp_scorer_ros.checkpoint", "version": 1,
     "config": ModelConfig.to_dict(), "state_dict": {...}, "state_dict_dtype": "float32"|"float16",
     **extra}   # e.g. optimizer, scheduler, iteration, args

It is loaded with ``weights_only=True`` (no arbitrary code runs), so ``extra`` must hold plain
containers, numbers, strings and tensors; an ``argparse.Namespace`` is stored as a dict.
"""
from __future__ import annotations

import argparse
import os
import tempfile
from typing import Any, Dict, Optional

import torch

from grasp_scorer_ros.network.model import GraspScorerNet, ModelConfig

FORMAT = "grasp_scorer_ros.checkpoint"
VERSION = 1
_RESERVED = ("format", "version", "config", "state_dict", "state_dict_dtype")


def save_checkpoint(path: str, model: GraspScorerNet, config: Optional[ModelConfig] = None,
                    extra: Optional[Dict[str, Any]] = None, half: bool = False) -> None:
    """Write ``model`` (and ``extra``) to ``path`` atomically (temporary file + ``os.replace``).

    ``config`` defaults to ``model.config``. ``half=True`` stores floating tensors as float16 (half
    the size; they load back as float32).
    """
    config = config if config is not None else model.config
    state = {}
    for name, tensor in model.state_dict().items():
        tensor = tensor.detach().cpu()
        if tensor.is_floating_point():
            tensor = tensor.to(torch.float16 if half else torch.float32)
        state[name] = tensor
    payload = {"format": FORMAT, "version": VERSION, "config": config.to_dict(), "state_dict": state,
               "state_dict_dtype": "float16" if half else "float32"}
    for key, value in (extra or {}).items():
        if key in _RESERVED:
            raise ValueError(f"extra key {key!r} is reserved by the checkpoint format")
        payload[key] = vars(value) if isinstance(value, argparse.Namespace) else value
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".pt", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the file from other users (e.g. a ROS node)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def load_checkpoint(path: str, map_location="cpu") -> Dict[str, Any]:
    """The checkpoint dict, validated; floating tensors of the state dict as float32."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch.load fails in many ways on foreign bytes (struct.error...)
        raise ValueError(f"not a grasp_scorer_ros checkpoint / corrupt: {path} ({error})") from error
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"not a grasp_scorer_ros checkpoint / corrupt: {path}")
    if payload.get("version") != VERSION:
        raise ValueError(f"checkpoint {path} has format version {payload.get('version')}, "
                         f"this code reads version {VERSION}")
    for key in ("config", "state_dict"):
        if not isinstance(payload.get(key), dict):
            raise ValueError(f"not a grasp_scorer_ros checkpoint / corrupt: {path} (no {key!r})")
    payload["state_dict"] = {name: t.float() if t.is_floating_point() else t
                             for name, t in payload["state_dict"].items()}
    return payload


def load_model(path: str, map_location="cpu") -> GraspScorerNet:
    """Rebuild the network from the checkpoint's own configuration and load its weights (eval mode)."""
    payload = load_checkpoint(path, map_location)
    try:
        config = ModelConfig.from_dict(payload["config"])
    except (TypeError, ValueError) as error:
        raise ValueError(f"checkpoint {path}: invalid model configuration: {error}") from error
    model = GraspScorerNet(config, pretrained=False, warn_random_init=False)
    expected, stored = model.state_dict(), payload["state_dict"]
    missing = sorted(set(expected) - set(stored))
    unexpected = sorted(set(stored) - set(expected))
    if missing or unexpected:
        raise ValueError(f"checkpoint {path} does not match its configuration: "
                         f"missing keys {missing[:5]}{'...' if len(missing) > 5 else ''}, "
                         f"unexpected keys {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}")
    wrong_shape = [f"{n}: {tuple(stored[n].shape)} vs {tuple(t.shape)}" for n, t in expected.items()
                   if stored[n].shape != t.shape]
    if wrong_shape:
        raise ValueError(f"checkpoint {path} does not match its configuration: shape mismatch "
                         f"{wrong_shape[:5]}")
    model.load_state_dict(stored)
    if isinstance(map_location, (str, torch.device)):
        model = model.to(map_location)
    return model.eval()
