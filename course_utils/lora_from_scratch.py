"""LoRA in a few lines of torch, so the learner can read what peft does inside every adapted layer."""
from __future__ import annotations

import math

import torch
from torch import nn


class LoRALinear(nn.Module):
    """y = W0·x + (alpha / r)·B·A·x: a frozen linear layer plus a trainable update of rank r (Hu et al., 2021)."""

    def __init__(self, base: nn.Linear, r: int = 8, alpha: float = 16, dropout: float = 0.0):
        super().__init__()
        if r <= 0:
            raise ValueError(f"LoRA rank r={r} must be a positive integer: use e.g. r=8.")
        self.base = base.requires_grad_(False)  # W0 stays frozen: only A and B learn
        kwargs = dict(dtype=base.weight.dtype, device=base.weight.device)
        self.A = nn.Parameter(torch.empty(r, base.in_features, **kwargs))  # r x in: projects down to r numbers
        self.B = nn.Parameter(torch.zeros(base.out_features, r, **kwargs))  # out x r: zero, so training starts at W0
        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))  # the same initialisation as peft's default
        self.scaling = alpha / r
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + (self.dropout(x) @ self.A.T @ self.B.T) * self.scaling

    def merged_weight(self) -> torch.Tensor:
        """W0 + (alpha / r)·B·A: one ordinary weight matrix, so a merged model runs as fast as the base model."""
        return self.base.weight + self.scaling * (self.B @ self.A)
