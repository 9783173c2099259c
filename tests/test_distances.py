"""Squared distances (pairwise_sq_dists, channel_sq_dists): exact on hand cases, equal to a naive float64
reference, accurate in float32 far from the origin, computed in float32 for half-precision activations
(issue 15). Every test runs on both paths of `ipkit.kernels.TUNED_CPU_GRAM`."""

import numpy as np
import pytest
import torch

import ipkit.kernels
import reference as ref
from draws import randn
from ipkit import channel_sq_dists, pairwise_sq_dists


@pytest.fixture(autouse=True, params=[True, False], ids=["tuned", "plain"])
def tuned(request, monkeypatch):
    monkeypatch.setattr(ipkit.kernels, "TUNED_CPU_GRAM", request.param)
    return request.param


def _activations(n, d, offset=0.0, seed=0, dtype=torch.float32):
    """ReLU-like activations (many zeros) plus an offset common to all samples."""
    g = torch.Generator().manual_seed(seed)
    return (torch.relu(torch.randn(n, d, generator=g, dtype=torch.float64)) + offset).to(dtype)


WIDE = 2 * 4096 + 7  # features per sample: many, and no multiple of 16


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
@pytest.mark.parametrize("n", [12, 100])  # 100: the tuned path's product in three panels of rows
def test_matches_naive_float64(offset, n):
    x = _activations(n, 7, offset, dtype=torch.float64)
    np.testing.assert_allclose(pairwise_sq_dists(x).numpy(), ref.sq_dists(x.numpy()), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", [(7, 5), (6, 3, 4, 4), (5, 1)])
def test_samples_of_any_shape_match_naive(shape):
    x = randn(*shape, seed=1)
    d2 = pairwise_sq_dists(x)
    assert d2.shape == (shape[0], shape[0])
    np.testing.assert_allclose(d2.numpy(), ref.sq_dists(x.numpy()), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n", [6, 100])
def test_channels_match_naive_per_channel(n):
    x = randn(n, 4, 3, 3, seed=4)
    d2 = channel_sq_dists(x)
    assert d2.shape == (4, n, n)
    for c in range(4):
        np.testing.assert_allclose(d2[c].numpy(), ref.sq_dists(x[:, c].numpy()), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("offset", [0.0, 100.0])
def test_wide_rows_match_naive_and_are_exactly_symmetric(offset):
    x = randn(60, WIDE, offset=offset, seed=30)
    d2 = pairwise_sq_dists(x)
    np.testing.assert_allclose(d2.numpy(), ref.sq_dists(x.numpy()), rtol=1e-12, atol=1e-9)
    assert torch.equal(d2, d2.T)
    d2_32 = pairwise_sq_dists(x.float())
    assert torch.equal(d2_32, d2_32.T)
    assert torch.equal(d2_32.diagonal(), torch.zeros(60))
    xc = randn(5, 2, WIDE, offset=offset, seed=31)  # wide channels, distances of all channels in one batch
    d2 = channel_sq_dists(xc)
    for c in range(2):
        np.testing.assert_allclose(d2[c].numpy(), ref.sq_dists(xc[:, c].numpy()), rtol=1e-12, atol=1e-9)


def test_properties():
    x = _activations(15, 40, 0.2)
    d2 = pairwise_sq_dists(x)
    assert torch.equal(d2, d2.mT)
    assert torch.all(d2.diagonal() == 0)
    assert torch.all(d2 >= 0)
    perm = torch.randperm(15, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(pairwise_sq_dists(x[perm]), d2[perm][:, perm], rtol=1e-5, atol=1e-6)


def test_duplicates_far_from_the_origin():
    x = randn(9, 16, offset=50.0, seed=2, dtype=torch.float32)
    x[3] = x[0]  # an exact duplicate: its distance is 0 up to round-off, never negative
    x[4] = x[1] + 1e-4  # a near-duplicate
    d2 = pairwise_sq_dists(x)
    assert torch.equal(d2, d2.T)
    assert (d2 >= 0).all()
    assert torch.equal(d2.diagonal(), torch.zeros(9))


def test_near_duplicates_not_negative():
    """The Gram trick's round-off exceeds the distance of two near-identical samples; it must not go below 0."""
    for seed in range(5):
        x = torch.randn(30, 300, generator=torch.Generator().manual_seed(seed))
        x[1] = x[0] + 1e-4 * torch.randn(300, generator=torch.Generator().manual_seed(100 + seed))
        d2 = pairwise_sq_dists(x)
        assert torch.all(d2 >= 0)
        assert d2[0, 1] < 1e-3


ROUND_OFF_CASES = {  # float32 rows near the origin and far from it (raw-pixel-like)
    **{f"relu+{o}, D={d}": (lambda o=o, d=d: _activations(30, d, o))
       for o in (0.0, 0.3, 1.0, 255.0) for d in (50, 5000)},
    **{f"randn+{o}, N={n}, D={d}": (lambda o=o, n=n, d=d: randn(n, d, offset=o, seed=32, dtype=torch.float32))
       for o in (0.0, 2.5, 4.5, 100.0) for n, d in ((10, 300), (10, WIDE), (60, WIDE))},
    "VGG conv1 size, randn+100": lambda: randn(10, 64, 32, 32, offset=100.0, seed=3, dtype=torch.float32),
}


@pytest.mark.parametrize("case", ROUND_OFF_CASES)
def test_float32_relative_round_off(case, tuned):
    """Float32 distances of the same float32 values against the exact ones: below 2e-6 relative for centred rows
    (7.7e-7 seen; the uncentred Gram trick is off by 9.6e-3 at an offset of 100). The tuned path leaves rows with
    κ = mean ‖x_i‖² / mean ‖x_i − x̄‖² ≤ 16 uncentred, at up to about 2κ · 1e-6 (κ = 2.5: 2.8e-6 seen)."""
    x = ROUND_OFF_CASES[case]()
    d2 = pairwise_sq_dists(x)
    assert d2.dtype == torch.float32
    exact = ref.sq_dists(x.numpy())  # of the same float32 values, in float64
    xd = x.flatten(1).double()
    kappa = float(xd.square().sum(1).mean() / (xd - xd.mean(0)).square().sum(1).mean())
    uncentred = tuned and kappa <= ipkit.kernels.MAX_UNCENTRED_KAPPA
    off = ~np.eye(len(x), dtype=bool)
    rel = np.abs(d2.numpy() - exact)[off] / exact[off]
    assert rel.max() < 2e-6 * (kappa if uncentred else 1.0), (kappa, rel.max())


def test_switch_changes_round_off_only(monkeypatch):
    """The tuned path is taken (its float32 round-off differs from the plain path's) and agrees with it."""
    x = _activations(100, 5000, 1.0)
    monkeypatch.setattr(ipkit.kernels, "TUNED_CPU_GRAM", True)
    fast = pairwise_sq_dists(x)
    monkeypatch.setattr(ipkit.kernels, "TUNED_CPU_GRAM", False)
    plain = pairwise_sq_dists(x)
    assert not torch.equal(fast, plain)
    torch.testing.assert_close(fast, plain, rtol=1e-5, atol=0.0)


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
