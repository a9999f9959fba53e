"""Spies that tests put on a model. Import them from a test with ``from spies import training_inputs``."""
from __future__ import annotations

import torch
from torch import nn


def training_inputs(model: nn.Module) -> list[torch.Tensor]:
    """A list that receives, on the CPU, the input of every forward pass ``model`` makes in training mode (so
    not its evaluation passes): the batches exactly as the model saw them, after normalising and mixing."""
    inputs: list[torch.Tensor] = []

    def record_input(module, args):
        if module.training:
            inputs.append(args[0].detach().cpu().clone())

    model.register_forward_pre_hook(record_input)
    return inputs
