"""Seeded Gaussian test data, shared by the test modules: the same seed gives the same values in every dtype."""

import torch


def randn(*shape, offset=0.0, seed=0, dtype=torch.float64):
    """Standard normal values (+ offset) of `shape`, drawn in float64 from `seed`, then cast to `dtype`."""
    return (offset + torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)).to(dtype)
