"""Baseline estimators (ipkit.baselines): binning and the KDE upper bound, against known answers and naive loops."""

import math

import numpy as np
import pytest
import torch

from ipkit.baselines import binned_entropy, binning_information, kde_information


# ---------------------------------------------------------------------------------------- naive NumPy references


def naive_binning(t, y, n_bins):
    """Shwartz-Ziv & Tishby binning with Python loops and dicts, float64."""
    t = np.asarray(t, dtype=np.float64).reshape(len(t), -1)
    lo, hi = t.min(), t.max()
    edges = np.linspace(lo, hi, n_bins + 1)

    def symbol(row):
        return tuple(min(int(np.searchsorted(edges, v, side="right")) - 1, n_bins - 1) for v in row)

    def entropy(rows):
        counts = {}
        for r in rows:
            counts[symbol(r)] = counts.get(symbol(r), 0) + 1
        p = np.array(list(counts.values()), dtype=np.float64) / len(rows)
        return float(-(p * np.log2(p)).sum())

    h = entropy(t)
    y = np.asarray(y)
    h_cond = sum((y == c).mean() * entropy(t[y == c]) for c in np.unique(y))
    return h, h, h - h_cond


def naive_kde(t, y, var):
    """Kolchinsky-Tracey KL upper bound with double loops, float64, in bits."""
    t = np.asarray(t, dtype=np.float64).reshape(len(t), -1)
    d = t.shape[1]

    def bound(x):
        n = len(x)
        total = 0.0
        for i in range(n):
            s = 0.0
            for j in range(n):
                s += math.exp(-float(((x[i] - x[j]) ** 2).sum()) / (2 * var)) / n
            total += math.log(s)
        return d / 2 * math.log(2 * math.pi * math.e * var) - total / n

    h = bound(t)
    y = np.asarray(y)
    h_cond = sum((y == c).mean() * bound(t[y == c]) for c in np.unique(y))
    noise = d / 2 * math.log(2 * math.pi * math.e * var)
    return h / math.log(2), (h - noise) / math.log(2), (h - h_cond) / math.log(2)


def _data(seed=0, n=60, d=3, classes=3):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, classes, (n,), generator=g)
    t = torch.tanh(torch.randn(classes, d, generator=g)[y] + 0.7 * torch.randn(n, d, generator=g))
    return t.to(torch.float64), y


# ----------------------------------------------------------------------------------------------------- binning


def test_binning_four_equally_likely_values_is_two_bits():
    t = torch.tensor([0.0, 1.0, 2.0, 3.0]).repeat(5)[:, None]  # (20, 1): 4 values, 5 samples each
    assert binned_entropy(t, n_bins=4) == pytest.approx(2.0, abs=1e-12)
    # labels equal to the value: T determines Y, I(T;Y) = H(Y) = 2 bits
    y = torch.tensor([0, 1, 2, 3]).repeat(5)
    assert binning_information(t, y, n_bins=4) == pytest.approx((2.0, 2.0, 2.0), abs=1e-12)
    # labels independent of T (each value meets both labels equally often): I(T;Y) = 0
    t8 = torch.tensor([0.0, 1.0, 2.0, 3.0] * 2)[:, None]
    y8 = torch.tensor([0] * 4 + [1] * 4)  # uniform labels, 1 bit
    assert binning_information(t8, y8, n_bins=4) == pytest.approx((2.0, 2.0, 0.0), abs=1e-12)


def test_binning_constant_layer_is_zero_bits():
    t = torch.full((10, 4), 0.3)
    y = torch.arange(10) % 2
    assert binning_information(t, y) == (0.0, 0.0, 0.0)


def test_binning_hand_computed_three_symbols():
    # range [0, 1], 2 bins: 0 and 0.2 -> bin 0, 0.9 and 1.0 -> bin 1; two neurons
    t = torch.tensor([[0.0, 0.0], [0.2, 1.0], [0.9, 1.0], [1.0, 0.9]])
    # symbols (0,0), (0,1), (1,1), (1,1): probabilities 1/4, 1/4, 1/2 -> 1.5 bits
    assert binned_entropy(t, n_bins=2) == pytest.approx(1.5, abs=1e-12)
    y = torch.tensor([0, 0, 1, 1])
    # H(T|Y=0) = 1 bit, H(T|Y=1) = 0 -> I(T;Y) = 1.5 - 0.5 = 1
    assert binning_information(t, y, n_bins=2) == pytest.approx((1.5, 1.5, 1.0), abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("n_bins", [2, 5, 30])
def test_binning_matches_naive_loops_and_bounds(seed, n_bins):
    t, y = _data(seed)
    got = binning_information(t, y, n_bins=n_bins)
    assert got == pytest.approx(naive_binning(t.numpy(), y.numpy(), n_bins), abs=1e-12)
    h_y = float(-sum(p * math.log2(p) for p in (torch.bincount(y).double() / len(y)).tolist() if p > 0))
    assert 0.0 <= got[2] <= min(got[0], h_y) + 1e-12
    assert got[0] <= math.log2(len(y)) + 1e-12
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    assert binning_information(t[perm], y[perm], n_bins=n_bins) == pytest.approx(got, abs=1e-12)


def test_binning_more_bins_never_lose_information():
    t, y = _data(3)
    # 2k bins split each of k bins: H(T) cannot decrease
    assert binned_entropy(t, 10) <= binned_entropy(t, 20) + 1e-12


def test_binning_bad_input_names_the_argument():
    t, y = _data()
    with pytest.raises(ValueError, match="n_bins"):
        binned_entropy(t, n_bins=0)
    with pytest.raises(ValueError, match="labels"):
        binning_information(t, y[:-1])
    with pytest.raises(ValueError, match="t contains"):
        binned_entropy(torch.tensor([[0.0], [math.nan]]))


# --------------------------------------------------------------------------------------------------------- KDE


def test_kde_matches_naive_loops():
    t, y = _data(0, n=40)
    for var in (0.01, 0.1, 1.0):
        assert kde_information(t, y, noise_variance=var) == pytest.approx(
            naive_kde(t.numpy(), y.numpy(), var), abs=1e-9)


def test_kde_separated_clusters_give_the_cluster_entropy():
    # K = 4 far-apart clusters of equal size, points of a cluster identical: I(X;T) = log2 K, and the noise
    # term cancels in I(T;Y) (labels = clusters: I(T;Y) = H(Y) = 2 bits).
    g = torch.Generator().manual_seed(0)
    centers = 100.0 * torch.randn(4, 5, generator=g, dtype=torch.float64)
    y = torch.arange(40) % 4
    var = 0.1
    h_t, i_xt, i_ty = kde_information(centers[y], y, noise_variance=var)
    assert i_xt == pytest.approx(2.0, abs=1e-9)
    assert i_ty == pytest.approx(2.0, abs=1e-9)
    noise_bits = 5 / 2 * math.log2(2 * math.pi * math.e * var)
    assert h_t == pytest.approx(2.0 + noise_bits, abs=1e-9)
    # distinct far-apart points: every sample its own component, I(X;T) = log2 N, the upper end
    spread = 100.0 * torch.randn(16, 3, generator=g, dtype=torch.float64)
    assert kde_information(spread, torch.arange(16) % 2, var)[1] == pytest.approx(4.0, abs=1e-9)


def test_kde_gaussian_against_analytic_values():
    # T ~ N(0, s² I_d), Z ~ N(0, σ² I_d). The bound is ≥ the true entropy d/2 log(2πe(s²+σ²)); for large N it
    # tends to d/2 + the cross-entropy E_T[−ln p_{T+Z}(T)] = d/2 ln(2π(s²+σ²)) + d/2 s²/(s²+σ²), which is the
    # true entropy plus d/2 · s²/(s²+σ²) nats (the bound's known looseness for overlapping components).
    n, d, s2, var = 3000, 1, 1.0, 0.05
    t = math.sqrt(s2) * torch.randn(n, d, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    y = torch.zeros(n, dtype=torch.int64)
    h_t, _, i_ty = kde_information(t, y, noise_variance=var)
    ln2 = math.log(2)
    true_h = d / 2 * math.log(2 * math.pi * math.e * (s2 + var)) / ln2
    limit = (d / 2 + d / 2 * math.log(2 * math.pi * (s2 + var)) + d / 2 * s2 / (s2 + var)) / ln2
    assert h_t >= true_h
    assert h_t == pytest.approx(limit, abs=0.03)
    assert i_ty == pytest.approx(0.0, abs=1e-12)  # one class: Y carries nothing


def test_kde_bounds_and_invariances():
    t, y = _data(1, n=50)
    h_t, i_xt, i_ty = kde_information(t, y)
    assert 0.0 <= i_xt <= math.log2(50) + 1e-12
    assert i_ty >= 0.0  # the bound is concave in the mixture weights (a mixture of the classes' mixtures)
    perm = torch.randperm(50, generator=torch.Generator().manual_seed(1))
    assert kde_information(t[perm], y[perm]) == pytest.approx((h_t, i_xt, i_ty), abs=1e-9)
    # more noise blurs the samples together: less information about X
    assert kde_information(t, y, noise_variance=1.0)[1] < i_xt


def test_kde_bad_input_names_the_argument():
    t, y = _data()
    for bad in (0.0, -1.0, math.inf):
        with pytest.raises(ValueError, match="noise_variance"):
            kde_information(t, y, noise_variance=bad)
    with pytest.raises(ValueError, match="y"):
        kde_information(t, y.double())
