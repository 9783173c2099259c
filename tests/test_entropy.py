"""Tests of ipkit.entropy: matrix-based Rényi entropy, joint entropy and mutual information (docs/method.md §1).
Properties, hand-computed 2×2 / 3×3 values, and agreement with the naive NumPy float64 references."""

import math

import numpy as np
import pytest
import torch

import reference as ref
from bad_input import bad_input_test
from draws import randn
from ipkit import (
    alignment_sigma,
    gaussian_from_sq_dists,
    gaussian_gram,
    joint_entropy,
    joint_entropy_with_labels,
    label_entropy,
    label_gram,
    multivariate_gram,
    mutual_information,
    normalize_gram,
    pairwise_sq_dists,
    renyi_entropy,
    silverman_sigma,
)

ALPHAS = (0.5, 1.0, 1.01, 2.0, 3.0)


def _gaussian_kernel(n, d, seed, width=1.0, dtype=torch.float64):
    """Gaussian Gram matrix of random data, σ = width × the mean pairwise distance."""
    x = randn(n, d, seed=seed).to(dtype)  # the same data for every dtype
    d2 = pairwise_sq_dists(x)
    return gaussian_from_sq_dists(d2, width * float(d2.sqrt().mean()))


# ------------------------------------------------------------------------------ naive NumPy float64 reference


@pytest.mark.parametrize("alpha", [1.0, 1.01, 2.0, 0.5, 3.0])
@pytest.mark.parametrize("seed", [0, 1])
def test_agrees_with_naive_numpy_implementation(alpha, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(25, 6, generator=g, dtype=torch.float64)  # input X
    t = torch.tanh(x @ torch.randn(6, 4, generator=g, dtype=torch.float64))  # a layer T depending on X
    y = torch.randint(0, 3, (25,), generator=g)
    sx, st = 3.0, 1.5
    Kx, Kt, Ky = gaussian_gram(x, sx), gaussian_gram(t, st), label_gram(y, 3).double()
    Kx_np, Kt_np, Ky_np = ref.gaussian_gram(x.numpy(), sx), ref.gaussian_gram(t.numpy(), st), Ky.numpy()

    np.testing.assert_allclose(Kx.numpy(), Kx_np, rtol=0, atol=1e-12)
    np.testing.assert_allclose(Kt.numpy(), Kt_np, rtol=0, atol=1e-12)
    got = [
        renyi_entropy(Kx, alpha), renyi_entropy(Kt, alpha), renyi_entropy(Ky, alpha),
        joint_entropy(Kx, Kt, alpha=alpha), joint_entropy(Kt, Ky, alpha=alpha), joint_entropy(Kx, Kt, Ky, alpha=alpha),
        mutual_information(Kx, Kt, alpha), mutual_information(Kt, Ky, alpha),
    ]
    want = [
        ref.renyi_entropy(Kx_np, alpha), ref.renyi_entropy(Kt_np, alpha), ref.renyi_entropy(Ky_np, alpha),
        ref.joint_entropy(Kx_np, Kt_np, alpha=alpha), ref.joint_entropy(Kt_np, Ky_np, alpha=alpha),
        ref.joint_entropy(Kx_np, Kt_np, Ky_np, alpha=alpha),
        ref.mutual_information(Kx_np, Kt_np, alpha), ref.mutual_information(Kt_np, Ky_np, alpha),
    ]
    # K_Y has rank 3: its 22 zero eigenvalues come out of eigvalsh as ±1e-17 round-off, which λ^α with α < 1
    # lifts to ~1e-9 each, in both implementations alike. Quantities with S(Y) are only that well defined.
    atol = [1e-9] * 8
    if alpha < 1:
        atol[2] = atol[7] = 1e-7
    for g_, w_, a_ in zip(got, want, atol):
        np.testing.assert_allclose(g_.item(), w_, rtol=0, atol=a_)


# ----------------------------------------------------------------------------------------------- hand-computed values


@pytest.mark.parametrize("c", [0.0, 0.3, 0.6, 0.95])
def test_two_by_two_hand_computed(c):
    # A = K / 2 has eigenvalues (1 + c)/2 and (1 - c)/2.
    K = torch.tensor([[1.0, c], [c, 1.0]], dtype=torch.float64)
    p, q = (1 + c) / 2, (1 - c) / 2
    shannon = -(p * math.log2(p) + q * math.log2(q))
    alpha_101 = math.log2(p**1.01 + q**1.01) / (1 - 1.01)
    np.testing.assert_allclose(renyi_entropy(K, alpha=1.0).item(), shannon, rtol=0, atol=1e-12)
    np.testing.assert_allclose(renyi_entropy(K, alpha=2.0).item(), -math.log2(p**2 + q**2), rtol=0, atol=1e-12)
    # the same from the entries, without eigenvalues: S_2 = −log2 ‖A‖_F² = −log2((1 + c²)/2)
    np.testing.assert_allclose(renyi_entropy(K, alpha=2.0).item(), -math.log2((1 + c * c) / 2), rtol=0, atol=1e-12)
    np.testing.assert_allclose(renyi_entropy(K, alpha=3.0).item(), math.log2(p**3 + q**3) / (1 - 3),
                               rtol=0, atol=1e-12)
    np.testing.assert_allclose(renyi_entropy(K, alpha=1.01).item(), alpha_101, rtol=0, atol=1e-12)
    np.testing.assert_allclose(renyi_entropy(K).item(), alpha_101, rtol=0, atol=1e-12)  # default α = 1.01


def test_two_by_two_non_unit_diagonal_hand_computed():
    # K_ii = 4 and 1, K_01 = 2·0.6: normalized by √(K_ii K_jj) it is [[1, .6], [.6, 1]] / 2.
    K = torch.tensor([[4.0, 1.2], [1.2, 1.0]], dtype=torch.float64)
    np.testing.assert_allclose(normalize_gram(K).numpy(), [[0.5, 0.3], [0.3, 0.5]], rtol=0, atol=1e-15)
    np.testing.assert_allclose(renyi_entropy(K, alpha=2.0).item(), -math.log2(0.8**2 + 0.2**2), rtol=0, atol=1e-12)


@pytest.mark.parametrize("c", [0.2, 0.5])
def test_three_by_three_hand_computed(c):
    # All off-diagonals c: A = K / 3 has eigenvalues (1 + 2c)/3 once and (1 - c)/3 twice.
    K = torch.full((3, 3), c, dtype=torch.float64).fill_diagonal_(1.0)
    lam = [(1 + 2 * c) / 3, (1 - c) / 3, (1 - c) / 3]
    np.testing.assert_allclose(renyi_entropy(K, 1.0).item(), -sum(v * math.log2(v) for v in lam), rtol=0, atol=1e-12)
    np.testing.assert_allclose(renyi_entropy(K, 2.0).item(), -math.log2(sum(v * v for v in lam)), rtol=0, atol=1e-12)
    np.testing.assert_allclose(renyi_entropy(K, 3.0).item(), math.log2(sum(v**3 for v in lam)) / (1 - 3),
                               rtol=0, atol=1e-12)
    # Joint with the block label kernel [[1,1,0],[1,1,0],[0,0,1]]: A = [[1,c,0],[c,1,0],[0,0,1]] / 3,
    # eigenvalues (1 ± c)/3 and 1/3.
    Ky = label_gram(torch.tensor([0, 0, 1]), 2).double()
    lam_j = [(1 + c) / 3, (1 - c) / 3, 1 / 3]
    np.testing.assert_allclose(joint_entropy(K, Ky, alpha=1.0).item(), -sum(v * math.log2(v) for v in lam_j),
                               rtol=0, atol=1e-12)


# ------------------------------------------------------------------------------------------------------- properties


@pytest.mark.parametrize("alpha", ALPHAS)
def test_identity_gives_log2_n_and_all_ones_gives_zero(alpha):
    for n in (2, 7, 50):
        np.testing.assert_allclose(renyi_entropy(torch.eye(n, dtype=torch.float64), alpha).item(), math.log2(n),
                                   rtol=0, atol=1e-12)
        np.testing.assert_allclose(renyi_entropy(torch.ones(n, n, dtype=torch.float64), alpha).item(), 0.0,
                                   rtol=0, atol=1e-7)


@pytest.mark.parametrize("alpha", ALPHAS)
@pytest.mark.parametrize("k", [2, 3, 10])
def test_balanced_label_kernel_gives_log2_k(alpha, k):
    # k equal classes: the normalized eigenvalues are 1/k (k times) and 0, so S_α = log2 k for every α.
    y = torch.randperm(10 * k, generator=torch.Generator().manual_seed(k)) % k
    np.testing.assert_allclose(renyi_entropy(label_gram(y, k), alpha).item(), math.log2(k), rtol=0, atol=1e-6)


@pytest.mark.parametrize("alpha", ALPHAS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_entropy_bounds_on_random_gaussian_kernels(alpha, seed):
    n = 30
    for width in (0.2, 1.0, 5.0):
        S = renyi_entropy(_gaussian_kernel(n, 4, seed, width), alpha).item()
        assert -1e-9 <= S <= math.log2(n) + 1e-9


@pytest.mark.parametrize("alpha", ALPHAS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_joint_entropy_at_least_the_larger_marginal(alpha, seed):
    # A∘B with B unit-diagonal PSD has eigenvalues majorized by those of A (Schur), so S(A, B) ≥ S(A) for every α;
    # hence I ≤ min(S(A), S(B)).
    for wa, wb in [(0.5, 0.5), (1.0, 3.0), (4.0, 0.3)]:
        Ka, Kb = _gaussian_kernel(24, 3, seed, wa), _gaussian_kernel(24, 2, seed + 100, wb)
        Sa, Sb = renyi_entropy(Ka, alpha).item(), renyi_entropy(Kb, alpha).item()
        Sab = joint_entropy(Ka, Kb, alpha=alpha).item()
        I = mutual_information(Ka, Kb, alpha).item()
        assert Sab >= max(Sa, Sb) - 1e-9
        assert I <= min(Sa, Sb) + 1e-9
        np.testing.assert_allclose(I, Sa + Sb - Sab, rtol=0, atol=1e-12)


@pytest.mark.parametrize("alpha", [0.5, 1.0, 1.01])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_joint_entropy_subadditive_and_mi_nonnegative(alpha, seed):
    # S(A, B) ≤ S(A) + S(B), i.e. I ≥ 0. Checked for α ≤ 1.01 only: for α ≥ 1.5 it is not a theorem and fails
    # on wide Gaussian kernels of independent data (by up to ~0.06 bits at α = 2 in a random search).
    x = randn(24, 3, seed=seed)
    t = torch.tanh(x @ randn(3, 3, seed=seed + 1)) + 0.3 * randn(24, 3, seed=seed + 2)  # depends on x
    z = randn(24, 2, seed=seed + 3)  # independent of x
    dx, dt, dz = pairwise_sq_dists(x), pairwise_sq_dists(t), pairwise_sq_dists(z)
    for w in (0.5, 1.0, 3.0):
        Kx = gaussian_from_sq_dists(dx, w * float(dx.sqrt().mean()))
        for d in (dt, dz):
            K = gaussian_from_sq_dists(d, w * float(d.sqrt().mean()))
            Sa, Sb = renyi_entropy(Kx, alpha).item(), renyi_entropy(K, alpha).item()
            assert joint_entropy(Kx, K, alpha=alpha).item() <= Sa + Sb + 1e-9
            assert mutual_information(Kx, K, alpha).item() >= -1e-9


@pytest.mark.parametrize("alpha", ALPHAS)
def test_mutual_information_symmetric(alpha):
    Ka, Kb = _gaussian_kernel(20, 3, 0), _gaussian_kernel(20, 5, 1, width=0.5)
    np.testing.assert_allclose(mutual_information(Ka, Kb, alpha).item(), mutual_information(Kb, Ka, alpha).item(),
                               rtol=0, atol=1e-12)


@pytest.mark.parametrize("alpha", ALPHAS)
def test_mutual_information_of_a_variable_with_itself(alpha):
    # For a 0/1 kernel K∘K = K, so I(X; X) = S(X) exactly.
    Ky = label_gram(torch.tensor([0, 1, 2, 0, 0, 1, 2, 2, 2, 1]), 3).double()
    np.testing.assert_allclose(mutual_information(Ky, Ky, alpha).item(), renyi_entropy(Ky, alpha).item(),
                               rtol=0, atol=1e-9)
    # For a Gaussian kernel K∘K is the Gaussian kernel at σ/√2, so I(X; X) = 2 S_σ − S_{σ/√2} ≤ S_σ.
    x = randn(15, 3, seed=3)
    Kx = gaussian_gram(x, 2.0)
    I = mutual_information(Kx, Kx, alpha).item()
    S_half = renyi_entropy(gaussian_gram(x, 2.0 / math.sqrt(2)), alpha).item()
    np.testing.assert_allclose(I, 2 * renyi_entropy(Kx, alpha).item() - S_half, rtol=0, atol=1e-9)
    assert I <= renyi_entropy(Kx, alpha).item() + 1e-9


@pytest.mark.parametrize("alpha", ALPHAS)
def test_permutation_invariance(alpha):
    Ka, Kb = _gaussian_kernel(16, 3, 4), label_gram(torch.arange(16) % 4, 4).double()
    p = torch.randperm(16, generator=torch.Generator().manual_seed(0))
    Pa, Pb = Ka[p][:, p], Kb[p][:, p]
    np.testing.assert_allclose(renyi_entropy(Pa, alpha).item(), renyi_entropy(Ka, alpha).item(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(joint_entropy(Pa, Pb, alpha=alpha).item(), joint_entropy(Ka, Kb, alpha=alpha).item(),
                               rtol=0, atol=1e-10)
    # S(Kb) of the rank-4 label kernel carries ~1e-8 of round-off at α < 1 (see the naive comparison)
    np.testing.assert_allclose(mutual_information(Pa, Pb, alpha).item(), mutual_information(Ka, Kb, alpha).item(),
                               rtol=0, atol=1e-10 if alpha >= 1 else 1e-7)


def test_continuity_at_alpha_one():
    for seed in range(3):
        K = _gaussian_kernel(20, 3, seed)
        S1 = renyi_entropy(K, 1.0).item()
        for alpha in (1 - 1e-5, 1 + 1e-5):
            np.testing.assert_allclose(renyi_entropy(K, alpha).item(), S1, rtol=0, atol=1e-4)
        # and the limit is approached from the right side: S_α decreases in α
        assert renyi_entropy(K, 1 - 1e-5).item() > S1 > renyi_entropy(K, 1 + 1e-5).item()


def test_continuity_at_alpha_one_for_float32_input():
    # A float32 unit trace is off by ~1e-8, which 1/(α − 1) = 1e5 would amplify to ~1e-3 bits.
    K = _gaussian_kernel(20, 3, 0, dtype=torch.float32)
    S1 = renyi_entropy(K, 1.0).item()
    for alpha in (1 - 1e-5, 1 + 1e-5):
        np.testing.assert_allclose(renyi_entropy(K, alpha).item(), S1, rtol=0, atol=1e-4)
    np.testing.assert_allclose(renyi_entropy(torch.ones(5, 5), 1 + 1e-5).item(), 0.0, rtol=0, atol=1e-6)


def test_alpha_two_fast_path_equals_eigenvalue_path():
    for seed in range(3):
        K = _gaussian_kernel(20, 3, seed, width=0.7)
        S2 = renyi_entropy(K, 2.0).item()
        np.testing.assert_allclose(S2, ref.renyi_entropy(K.numpy(), 2.0), rtol=0, atol=1e-12)
        for alpha in (2 - 1e-9, 2 + 1e-9):  # the eigenvalue path
            np.testing.assert_allclose(renyi_entropy(K, alpha).item(), S2, rtol=0, atol=1e-7)


def test_batched_stack_equals_one_by_one():
    Ks = torch.stack([_gaussian_kernel(12, 3, s, w) for s, w in [(0, 0.3), (1, 1.0), (2, 3.0), (3, 1.0)]])
    Ky = label_gram(torch.arange(12) % 3, 3).double()
    for alpha in (1.0, 1.01, 2.0):
        S = renyi_entropy(Ks, alpha)
        J = joint_entropy(Ks, Ky, alpha=alpha)  # Ky broadcasts against the stack
        I = mutual_information(Ks, Ky, alpha)
        assert S.shape == J.shape == I.shape == (4,)
        for l in range(4):
            np.testing.assert_allclose(S[l].item(), renyi_entropy(Ks[l], alpha).item(), rtol=0, atol=1e-12)
            np.testing.assert_allclose(J[l].item(), joint_entropy(Ks[l], Ky, alpha=alpha).item(), rtol=0, atol=1e-12)
            np.testing.assert_allclose(I[l].item(), mutual_information(Ks[l], Ky, alpha).item(), rtol=0, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtype_follows_input(dtype):
    K = _gaussian_kernel(15, 3, 0, dtype=dtype)
    Ky = label_gram(torch.arange(15) % 3, 3).to(dtype)
    ref = _gaussian_kernel(15, 3, 0, dtype=torch.float64)
    for alpha in (1.0, 1.01, 2.0):
        S, J, I = renyi_entropy(K, alpha), joint_entropy(K, Ky, alpha=alpha), mutual_information(K, Ky, alpha)
        assert S.dtype == J.dtype == I.dtype == dtype
        np.testing.assert_allclose(S.item(), renyi_entropy(ref, alpha).item(), rtol=0, atol=1e-5)


def test_non_unit_diagonal_kernels_are_normalized():
    x = randn(12, 4, seed=5)
    # linear kernel + identity: PD with diagonal ‖x_i‖² + 1
    K_lin = x @ x.T + torch.eye(12, dtype=torch.float64)
    d = K_lin.diagonal().sqrt()
    cosine = K_lin / (d[:, None] * d[None, :])  # unit diagonal
    K_gauss = gaussian_gram(x, 2.0)
    D = torch.diag(torch.linspace(0.5, 3.0, 12, dtype=torch.float64))
    for alpha in (0.5, 1.0, 1.01, 2.0):
        np.testing.assert_allclose(renyi_entropy(K_lin, alpha).item(), ref.renyi_entropy(cosine.numpy(), alpha),
                                   rtol=0, atol=1e-10)
        np.testing.assert_allclose(renyi_entropy(K_lin, alpha).item(), renyi_entropy(cosine, alpha).item(),
                                   rtol=0, atol=1e-10)
        # a scaled Gaussian kernel and a diagonally rescaled one D K D have the same normalization as K
        S = renyi_entropy(K_gauss, alpha).item()
        np.testing.assert_allclose(renyi_entropy(7.5 * K_gauss, alpha).item(), S, rtol=0, atol=1e-10)
        np.testing.assert_allclose(renyi_entropy(D @ K_gauss @ D, alpha).item(), S, rtol=0, atol=1e-10)
        np.testing.assert_allclose(joint_entropy(7.5 * K_gauss, K_lin, alpha=alpha).item(),
                                   joint_entropy(K_gauss, cosine, alpha=alpha).item(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(normalize_gram(K_lin).trace().item(), 1.0, rtol=0, atol=1e-15)


@pytest.mark.parametrize("n, one_thread", [(100, True), (201, False)])
def test_small_eigendecompositions_run_on_one_thread_and_restore_the_count(monkeypatch, n, one_thread):
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        seen, eigvalsh = [], torch.linalg.eigvalsh
        monkeypatch.setattr(torch.linalg, "eigvalsh", lambda A: seen.append(torch.get_num_threads()) or eigvalsh(A))
        K = _gaussian_kernel(n, 3, 0)
        S = renyi_entropy(K)
        assert seen == [1 if one_thread else 2] and torch.get_num_threads() == 2
        np.testing.assert_allclose(S.item(), ref.renyi_entropy(K.numpy(), 1.01), rtol=0, atol=1e-9)
        monkeypatch.setattr(torch.linalg, "eigvalsh", lambda A: 1 / 0)
        with pytest.raises(ZeroDivisionError):
            renyi_entropy(K)
        assert torch.get_num_threads() == 2  # restored when the decomposition fails, too
    finally:
        torch.set_num_threads(threads)


def test_width_changes_the_entropy():
    d2 = pairwise_sq_dists(randn(20, 3, seed=6))
    S = [renyi_entropy(gaussian_from_sq_dists(d2, s)).item() for s in (0.5, 2.0)]
    assert S[0] - S[1] > 0.5  # narrower kernel, closer to the identity, higher entropy


@pytest.mark.parametrize("alpha", [0.5, 1.0, 1.01, 2.0])
def test_no_nan_for_valid_extreme_input(alpha):
    x = randn(10, 3, seed=7, dtype=torch.float32)
    Ky = label_gram(torch.arange(10) % 2, 2)
    for sigma, want in [(1e30, 0.0), (1e-30, math.log2(10))]:  # all-ones kernel, identity kernel
        K = gaussian_gram(x, sigma)
        np.testing.assert_allclose(renyi_entropy(K, alpha).item(), want, rtol=0, atol=1e-6)
        I = mutual_information(K, Ky, alpha).item()
        assert math.isfinite(I)
        np.testing.assert_allclose(I, 0.0 if sigma > 1 else 1.0, rtol=0, atol=1e-6)  # S(Y) = 1 bit
    # Every sample twice: half the eigenvalues are exactly 0 and the entropy is unchanged.
    x64 = x.double()
    K, K_dup = gaussian_gram(x64, 1.0), gaussian_gram(torch.cat([x64, x64]), 1.0)
    np.testing.assert_allclose(renyi_entropy(K_dup, alpha).item(), renyi_entropy(K, alpha).item(), rtol=0,
                               atol=1e-9 if alpha >= 1 else 1e-7)


# ------------------------------------------------------------------------------------- saturation (docs/method.md §2)


def test_multivariate_kernel_saturates_where_the_tensor_kernel_does_not():
    # A 64-channel 8×8 activation of N = 100 samples from 10 classes (class means + noise), the channels on
    # scales from 0.5 to 2.
    g = torch.Generator().manual_seed(0)
    n, c = 100, 64
    y = torch.arange(n) % 10
    means = torch.randn(10, c, 8, 8, generator=g, dtype=torch.float64)
    scales = torch.linspace(0.5, 2.0, c, dtype=torch.float64)[:, None, None]
    act = scales * (means[y] + 0.5 * torch.randn(n, c, 8, 8, generator=g, dtype=torch.float64))
    K_y = label_gram(y, 10).double()

    # Yu et al.: each channel its own Silverman-type width, scaled by that channel's spread (so the widths differ)
    spread = act.flatten(2).var(dim=0).mean(dim=-1).sqrt()  # (C,)
    sigmas = spread * silverman_sigma(n, 8 * 8)
    assert sigmas.max() > 3 * sigmas.min()
    K_multi = multivariate_gram(act, sigmas)
    d2 = pairwise_sq_dists(act)
    K_tensor = gaussian_from_sq_dists(d2, alignment_sigma(d2, K_y, n_candidates=300))

    S_multi, S_tensor = renyi_entropy(K_multi).item(), renyi_entropy(K_tensor).item()
    assert abs(S_multi - math.log2(n)) < 0.05
    assert S_tensor < math.log2(n) - 0.5
    # saturation makes I(T; Y) equal S(Y) whatever T is
    np.testing.assert_allclose(mutual_information(K_multi, K_y).item(), renyi_entropy(K_y).item(), rtol=0, atol=1e-6)


# ------------------------------------------------------------------------------------ entropies with the label kernel


def _labels(counts, seed=0):
    """Integer labels with the given class counts (a count of 0 leaves that class out), shuffled."""
    y = torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts))
    return y[torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))]


@pytest.mark.parametrize("alpha", ALPHAS)
def test_label_entropy_hand_computed_and_equal_to_the_label_kernels_entropy(alpha):
    assert label_entropy(torch.tensor([0, 0, 1, 1]), alpha).item() == pytest.approx(1.0, abs=1e-12)
    # Class proportions (3/4, 1/4): Rényi entropy by hand; at α = 1 the Shannon entropy 0.8113 bits.
    p = np.array([0.75, 0.25])
    hand = -(p * np.log2(p)).sum() if alpha == 1.0 else np.log2((p**alpha).sum()) / (1 - alpha)
    assert label_entropy(torch.tensor([2, 0, 0, 0]), alpha).item() == pytest.approx(hand, abs=1e-6)
    y = _labels([7, 0, 3, 12, 1, 9], seed=1)  # unequal classes, one absent
    np.testing.assert_allclose(label_entropy(y, alpha).item(), ref.renyi_entropy(ref.label_gram(y.numpy()), alpha),
                               rtol=0, atol=1e-6)


@pytest.mark.parametrize("alpha", ALPHAS)
@pytest.mark.parametrize("counts", [[10] * 10, [14, 0, 3, 9, 1, 13], [1] * 12, [30, 1, 1], [25]],
                         ids=["balanced", "unequal", "singletons", "too-unequal", "one-class"])
def test_joint_entropy_with_labels_equals_naive_joint_entropy(alpha, counts):
    # By class blocks (the first three) or, where padding would cost more, by the whole matrix (the last two).
    y = _labels(counts)
    n = len(y)
    x = randn(3, n, 4, seed=n)
    K = torch.stack([gaussian_gram(xi, 2.0) for xi in x])  # a stack, as for several layers
    K_y = ref.label_gram(y.numpy())
    S = joint_entropy_with_labels(K, y, alpha)
    assert S.shape == (3,) and S.dtype == torch.float64
    for i in range(3):
        np.testing.assert_allclose(S[i].item(), ref.joint_entropy(K[i].numpy(), K_y, alpha=alpha), rtol=0, atol=1e-9)


def test_joint_entropy_with_labels_normalizes_a_non_unit_diagonal():
    y = _labels([4, 5, 3], seed=2)
    K = gaussian_gram(randn(12, 3, seed=3), 1.5)
    scale = torch.linspace(0.5, 2.0, 12, dtype=torch.float64)
    K_scaled = K * scale[:, None] * scale[None, :]
    np.testing.assert_allclose(joint_entropy_with_labels(K_scaled, y).item(),
                               ref.joint_entropy(K_scaled.numpy(), ref.label_gram(y.numpy()), alpha=1.01),
                               rtol=0, atol=1e-9)


# ---------------------------------------------------------------------------------------------------------- bad input


def _with(K, idx, value):
    K = K.clone()
    K[idx] = value
    return K


K4 = _gaussian_kernel(4, 2, 0)
K5 = _gaussian_kernel(5, 2, 1)

BAD_INPUT = {
    "non-square K": (lambda: renyi_entropy(torch.ones(4, 3)), r"\bK\b.*square"),
    "1-D K": (lambda: renyi_entropy(torch.ones(4)), r"\bK\b.*square"),
    "one sample": (lambda: renyi_entropy(torch.ones(1, 1)), r"\bK\b.*at least 2 samples"),
    "nan in K": (lambda: renyi_entropy(_with(K4, (0, 1), float("nan"))), r"\bK\b.*non-finite"),
    "inf in K": (lambda: renyi_entropy(_with(K4, (2, 2), float("inf"))), r"\bK\b.*non-finite"),
    "zero diagonal": (lambda: renyi_entropy(_with(K4, (1, 1), 0.0)), r"\bK\b.*positive diagonal"),
    "nan in normalize": (lambda: normalize_gram(_with(K4, (3, 0), float("nan"))), r"\bK\b.*non-finite"),
    "alpha zero": (lambda: renyi_entropy(K4, 0.0), r"\balpha\b.*> 0"),
    "alpha negative": (lambda: renyi_entropy(K4, -1.0), r"\balpha\b.*> 0"),
    "alpha nan": (lambda: renyi_entropy(K4, float("nan")), r"\balpha\b.*finite"),
    "alpha inf": (lambda: renyi_entropy(K4, float("inf")), r"\balpha\b.*finite"),
    "alpha string": (lambda: renyi_entropy(K4, "two"), r"\balpha\b"),
    "joint alpha zero": (lambda: joint_entropy(K4, K4, alpha=0.0), r"\balpha\b.*> 0"),
    "mi alpha nan": (lambda: mutual_information(K4, K4, float("nan")), r"\balpha\b.*finite"),
    "joint sizes": (lambda: joint_entropy(K4, K5), r"Ks\[0\].*Ks\[1\]"),
    "joint nan": (lambda: joint_entropy(K4, _with(K4, (0, 2), float("nan"))), r"Ks\[1\].*non-finite"),
    "joint nothing": (lambda: joint_entropy(), r"at least one"),
    "mi sizes": (lambda: mutual_information(K4, K5), r"\bKx\b.*\bKy\b"),
    "mi non-square": (lambda: mutual_information(K4, torch.ones(4, 5)), r"\bKy\b.*square"),
    "mi nan": (lambda: mutual_information(_with(K4, (1, 2), float("nan")), K4), r"\bKx\b.*non-finite"),
    "mi inf": (lambda: mutual_information(K4, _with(K4, (1, 2), float("-inf"))), r"\bKy\b.*non-finite"),
    "mi unknown method": (lambda: mutual_information(K4, K4, method="svd"), r"unknown method 'svd'"),
    "mi too few probes": (lambda: mutual_information(K4, K4, method="lanczos", num_probes=1), r"\bnum_probes\b"),
    "joint unknown method": (lambda: joint_entropy(K4, K4, method="svd"), r"unknown method 'svd'"),
    "joint steps zero": (lambda: joint_entropy(K4, K4, method="lanczos", num_steps=0), r"\bnum_steps\b"),
    "renyi seed": (lambda: renyi_entropy(K4, method="lanczos", seed=1.5), r"\bseed\b"),
    "label entropy float labels": (lambda: label_entropy(torch.tensor([0.0, 1.0])), r"\by\b.*integer labels"),
    "joint labels alpha": (lambda: joint_entropy_with_labels(K4, torch.arange(4) % 2, -1.0), r"\balpha\b.*> 0"),
    "labels too few for K": (lambda: joint_entropy_with_labels(K4, torch.tensor([0, 1, 1])), r"\by\b.*3 labels for 4"),
    "float labels": (lambda: joint_entropy_with_labels(K4, torch.zeros(4)), r"\by\b.*integer labels"),
    "negative label": (lambda: joint_entropy_with_labels(K4, torch.tensor([0, -1, 1, 1])), r"labels must lie"),
    "joint labels nan K": (lambda: joint_entropy_with_labels(_with(K4, (0, 1), float("nan")), torch.arange(4) % 2),
                           r"\bK\b.*non-finite"),
    "label entropy one label": (lambda: label_entropy(torch.tensor([3])), r"\by\b.*at least 2 samples"),
    "label entropy alpha": (lambda: label_entropy(torch.tensor([0, 1]), 0.0), r"\balpha\b.*> 0"),
}


test_bad_input_raises_value_error_naming_the_argument = bad_input_test(BAD_INPUT)
