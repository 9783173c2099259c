"""The structure-preserving tensor kernel (ipkit.structure_kernel): against a naive NumPy float64 implementation
with explicit unfoldings and projection matrices, its properties and invariances, hand-computed cases, bad input."""

import math

import numpy as np
import pytest
import torch

import ipkit.structure_kernel as sk
from ipkit import gaussian_gram
from ipkit.structure_kernel import row_space_bases, structure_preserving_gram, structure_sq_dists


def naive_projections(sample: np.ndarray) -> list[np.ndarray]:
    """P_n = V Vᵀ of every mode-n unfolding, V the right singular vectors of the singular values above
    max(I_n, J_n) · eps · s_max (float64)."""
    out = []
    for mode in range(sample.ndim):
        unfolded = np.moveaxis(sample, mode, 0).reshape(sample.shape[mode], -1)
        _, s, vh = np.linalg.svd(unfolded, full_matrices=False)
        rank = int(np.sum(s > max(unfolded.shape) * np.finfo(np.float64).eps * s.max())) if s.max() > 0 else 0
        v = vh[:rank].T
        out.append(v @ v.T)
    return out


def naive_sq_dists(x: np.ndarray) -> np.ndarray:
    projections = [naive_projections(sample) for sample in x]
    n = len(x)
    d2 = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            d2[i, j] = sum(np.sum((p - q) ** 2) for p, q in zip(projections[i], projections[j]))
    return d2


def samples(shape, seed=0, relu=False) -> torch.Tensor:
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return x.relu() if relu else x


def rank_deficient(shape=(6, 3, 4, 5), seed=1) -> torch.Tensor:
    """ReLU samples with an all-zero channel in one sample, two equal channels in another, an all-zero sample."""
    x = samples(shape, seed, relu=True)
    x[1, 0] = 0.0
    x[2, 1] = x[2, 0]
    x[3] = 0.0
    return x


@pytest.mark.parametrize("x", [samples((5, 3, 4, 5)), samples((6, 2, 3, 7), seed=2, relu=True), rank_deficient(),
                               samples((4, 2, 3, 2, 2), seed=3)], ids=["gauss", "relu", "rank-deficient", "order-4"])
def test_matches_naive_numpy(x):
    expected = naive_sq_dists(x.numpy())
    got = structure_sq_dists(x)
    assert got.dtype == torch.float64
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-8, atol=1e-10)
    assert expected[~np.eye(len(x), dtype=bool)].min() > 0.1  # the cases compare distinct structures


def test_both_products_and_blocks_agree(monkeypatch):
    """Mode 2 of a 3×4×5 sample (k = 4, J = 15) takes the projections' product; a tiny block budget forces the
    basis vectors' product, one sample per block, for every mode."""
    x = rank_deficient()
    default = structure_sq_dists(x)
    monkeypatch.setattr(sk, "_BLOCK_ENTRIES", 1)
    np.testing.assert_allclose(structure_sq_dists(x).numpy(), default.numpy(), rtol=1e-10, atol=1e-12)


def test_ranks_of_rank_deficient_unfoldings():
    x = rank_deficient()
    _, ranks = row_space_bases(x, 1)
    assert ranks.tolist() == [3, 2, 2, 0, 3, 3]  # zero channel, repeated channel, zero sample
    V, ranks = row_space_bases(x, 2)
    assert ranks[3] == 0 and ranks[0] == 4
    assert float(V[3].abs().max()) == 0.0  # no directions for the all-zero sample
    gram = V[0].mT @ V[0]  # (k, k): orthonormal columns
    np.testing.assert_allclose(gram.numpy(), np.eye(4), atol=1e-12)


def test_properties():
    x = samples((8, 3, 4, 5), relu=True)
    K = structure_preserving_gram(x, 3.0)
    assert K.shape == (8, 8) and K.dtype == torch.float64
    assert torch.equal(K, K.T)
    assert torch.equal(K.diagonal(), torch.ones(8, dtype=torch.float64))
    assert float(torch.linalg.eigvalsh(K).min()) > -1e-12
    assert 0.0 < float(K[~torch.eye(8, dtype=torch.bool)].min()) and float(K.max()) <= 1.0
    perm = torch.tensor([3, 0, 7, 1, 6, 2, 5, 4])
    np.testing.assert_allclose(structure_preserving_gram(x[perm], 3.0).numpy(), K[perm][:, perm].numpy(),
                               rtol=1e-12, atol=1e-14)
    d2 = structure_sq_dists(x)
    assert float(d2.max()) <= 2 * (3 + 4 + 5)  # 2 Σ_n min(I_n, J_n)


def test_scale_invariant_unlike_the_tensor_kernel():
    """Row spaces do not change when a sample is scaled by c ≠ 0; Frobenius distances do."""
    x = samples((6, 3, 4, 5), relu=True)
    c = torch.tensor([0.01, 1.0, 7.0, 250.0, 2.0, -3.0], dtype=torch.float64)[:, None, None, None]
    np.testing.assert_allclose(structure_preserving_gram(c * x, 2.0).numpy(), structure_preserving_gram(x, 2.0).numpy(),
                               rtol=1e-10, atol=1e-12)
    K_ten, K_ten_scaled = gaussian_gram(x, 10.0), gaussian_gram(c * x, 10.0)
    assert float((K_ten - K_ten_scaled).abs().max()) > 0.1


def test_hand_computed_two_samples():
    """x_0 = [[1, 0], [0, 0]], x_1 = [[1, 1], [0, 0]] (C = 1). Mode 1: e_1 against (e_1 + e_2)/√2, 1 + 1 − 2 · ½ = 1;
    mode 2 (rows): span e_1 against span (1, 1)/√2, 1; mode 3 (columns): both span e_1, 0. D = 2."""
    x = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]], [[[1.0, 1.0], [0.0, 0.0]]]])
    np.testing.assert_allclose(structure_sq_dists(x).numpy(), [[0.0, 2.0], [2.0, 0.0]], rtol=0, atol=1e-12)
    K = structure_preserving_gram(x, 2.0)
    assert math.isclose(float(K[0, 1]), math.exp(-2.0 / 4.0), rel_tol=1e-12)


def test_all_zero_sample_is_at_the_sum_of_ranks():
    """D(0, X) = Σ_n rank X_<n>: a generic 1×2×3 sample has ranks 1, 2, 2."""
    x = torch.zeros(2, 1, 2, 3, dtype=torch.float64)
    x[1] = samples((1, 2, 3), seed=4)
    np.testing.assert_allclose(structure_sq_dists(x).numpy(), [[0.0, 5.0], [5.0, 0.0]], rtol=0, atol=1e-12)


def test_rank_tolerance_follows_the_dtype():
    """Two float32 channels equal up to float32 round-off are one direction by float32's eps, two by float64's."""
    a = samples((1, 1, 4, 5), seed=5).float()
    x = torch.cat([a, a], dim=1)  # (1, 2, 4, 5)
    x[0, 1, 0, 0] += 1e-7 * float(x[0, 1, 0, 0].abs())
    x = torch.cat([x, samples((1, 2, 4, 5), seed=6).float()])
    assert row_space_bases(x, 1)[1].tolist() == [1, 2]
    assert row_space_bases(x, 1, rtol=1e-15)[1].tolist() == [2, 2]


@pytest.mark.parametrize("bad, match", [
    (lambda: structure_sq_dists(torch.rand(5, 12)), "x must be"),
    (lambda: structure_sq_dists(torch.rand(5, 3, 4, 5).numpy()), "x must be a torch.Tensor"),
    (lambda: structure_sq_dists(torch.rand(1, 3, 4, 5)), "at least 2"),
    (lambda: structure_sq_dists(torch.ones(3, 3, 4, 5, dtype=torch.int64)), "floating-point"),
    (lambda: structure_sq_dists(torch.full((3, 2, 2, 2), math.nan)), "x"),
    (lambda: structure_preserving_gram(torch.rand(4, 2, 3, 3), 0.0), "sigma"),
    (lambda: structure_preserving_gram(torch.rand(4, 2, 3, 3), -1.0), "sigma"),
    (lambda: structure_preserving_gram(torch.rand(4, 2, 3, 3), math.nan), "sigma"),
    (lambda: row_space_bases(torch.rand(4, 2, 3, 3), 4), "mode"),
    (lambda: row_space_bases(torch.rand(4, 2, 3, 3), 1, rtol=-1.0), "rtol"),
])
def test_bad_input(bad, match):
    with pytest.raises(ValueError, match=match):
        bad()
