"""Squared distances (pairwise_sq_dists, channel_sq_dists): exact on hand cases, equal to a naive float64
reference, accurate in float32 far from the origin, computed in float32 for half-precision activations
(issue 15)."""

import numpy as np
import pytest
import torch

import reference as ref
from ipkit import channel_sq_dists, pairwise_sq_dists


def _activations(n, d, offset=0.0, seed=0, dtype=torch.float32):
    """ReLU-like activations (many zeros) plus an offset common to all samples."""
    g = torch.Generator().manual_seed(seed)
    return (torch.relu(torch.randn(n, d, generator=g, dtype=torch.float64)) + offset).to(dtype)


def test_hand_computed():
    x = torch.tensor([[0.0], [3.0], [4.0]], dtype=torch.float64)
    expected = torch.tensor([[0.0, 9.0, 16.0], [9.0, 0.0, 1.0], [16.0, 1.0, 0.0]], dtype=torch.float64)
    assert torch.equal(pairwise_sq_dists(x), expected)
    assert torch.equal(pairwise_sq_dists(x + 100.0), expected)  # far from the origin: centred, still exact


def test_channels_hand_computed():
    x = torch.tensor([[[0.0, 0.0], [1.0, 1.0]], [[3.0, 4.0], [1.0, 2.0]]], dtype=torch.float64)  # (N=2, C=2, 2)
    d2 = channel_sq_dists(x)
    assert d2.shape == (2, 2, 2)
    assert torch.equal(d2[:, 0, 1], torch.tensor([25.0, 1.0], dtype=torch.float64))
    assert torch.equal(d2, d2.mT)


@pytest.mark.parametrize("offset", [0.0, 0.3, 5.0])
def test_matches_naive_float64(offset):
    x = _activations(12, 7, offset, dtype=torch.float64)
    np.testing.assert_allclose(pairwise_sq_dists(x).numpy(), ref.sq_dists(x.numpy()), rtol=1e-12, atol=1e-12)


def test_properties():
    x = _activations(15, 40, 0.2)
    d2 = pairwise_sq_dists(x)
    assert torch.equal(d2, d2.mT)
    assert torch.all(d2.diagonal() == 0)
    assert torch.all(d2 >= 0)
    perm = torch.randperm(15, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(pairwise_sq_dists(x[perm]), d2[perm][:, perm], rtol=1e-5, atol=1e-6)


def test_near_duplicates_not_negative():
    """The Gram trick's round-off exceeds the distance of two near-identical samples; it must not go below 0."""
    for seed in range(5):
        x = torch.randn(30, 300, generator=torch.Generator().manual_seed(seed))
        x[1] = x[0] + 1e-4 * torch.randn(300, generator=torch.Generator().manual_seed(100 + seed))
        d2 = pairwise_sq_dists(x)
        assert torch.all(d2 >= 0)
        assert d2[0, 1] < 1e-3


@pytest.mark.parametrize("offset", [0.0, 1.0, 255.0])
@pytest.mark.parametrize("d", [50, 5000])
def test_float32_relative_round_off(offset, d):
    """Float32 distances of the same float32 values, near the origin and far from it (raw-pixel-like), keep
    a relative round-off below 1e-6 against the exact ones (4e-7 seen): the rows are centred first."""
    x = _activations(30, d, offset)
    exact = ref.sq_dists(x.numpy())
    off = ~np.eye(30, dtype=bool)
    rel = np.abs(pairwise_sq_dists(x).numpy() - exact)[off] / exact[off]
    assert rel.max() < 2e-6, rel.max()


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_computed_in_float32(dtype):
    """Issue 15: half-precision activations give the float32 distances of the same (rounded) values."""
    x = _activations(30, 300, 0.5, dtype=dtype)
    d2 = pairwise_sq_dists(x)
    assert d2.dtype == torch.float32
    torch.testing.assert_close(d2, pairwise_sq_dists(x.float()), rtol=1e-6, atol=0.0)
    exact = ref.sq_dists(x.float().numpy())
    np.testing.assert_allclose(d2.numpy(), exact, rtol=2e-5, atol=1e-4)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_channels_computed_in_float32(dtype):
    x = _activations(10, 2 * 36, 0.5, dtype=dtype).reshape(10, 2, 6, 6)
    d2 = channel_sq_dists(x)
    assert d2.dtype == torch.float32
    for c in range(2):
        np.testing.assert_allclose(d2[c].numpy(), ref.sq_dists(x[:, c].float().numpy()), rtol=2e-5, atol=1e-4)


def test_float64_stays_float64():
    assert pairwise_sq_dists(_activations(4, 3, dtype=torch.float64)).dtype == torch.float64
