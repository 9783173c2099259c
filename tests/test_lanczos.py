"""Entropy for every α > 0 (issue 15) and stochastic Lanczos quadrature for large N (renyi_entropy(method="lanczos"))."""

import math

import numpy as np
import pytest
import torch

import ipkit
from ipkit.data import load_dataset

ALPHAS = [0.5, 1.0, 1.01, 2.0, 50.0, 500.0, 1e4]


def _gram(n=40, d=4, sigma=2.0, seed=0):
    x = torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return ipkit.gaussian_gram(x, sigma), x


def numpy_entropy(K, alpha):
    """Reference: float64 NumPy eigenvalues, the closed forms, λ_max factored out of the power sum."""
    K = np.asarray(K, dtype=np.float64)
    d = np.sqrt(np.diag(K))
    lam = np.clip(np.linalg.eigvalsh(K / (len(K) * np.outer(d, d))), 0.0, None)
    lam = lam / lam.sum()
    if alpha == 1.0:
        nz = lam[lam > 0]
        return float(-(nz * np.log2(nz)).sum())
    top = lam.max()
    return float((alpha * np.log2(top) + np.log2(((lam / top) ** alpha).sum())) / (1.0 - alpha))


# ------------------------------------------------------------------------------------- issue 15: every α > 0


@pytest.mark.parametrize("alpha", ALPHAS)
def test_entropy_and_mi_finite_for_every_alpha(alpha):
    K, x = _gram()
    Ky = ipkit.gaussian_gram(x[:, :2], 1.5)
    H = float(ipkit.renyi_entropy(K, alpha))
    assert H == pytest.approx(numpy_entropy(K.numpy(), alpha), abs=1e-9)
    mi = float(ipkit.mutual_information(K, Ky, alpha))
    assert math.isfinite(mi)
    assert -1e-9 <= mi <= min(H, float(ipkit.renyi_entropy(Ky, alpha))) + 1e-9


def test_large_alpha_closed_form_of_a_known_spectrum():
    # Label kernel of class proportions (1/2, 1/4, 1/4): Σ p^α = 2^−α (1 + 2^(1−α)), so
    # S_α = (α − log2(1 + 2^(1−α))) / (α − 1) → 1 = −log2 λ_max as α → ∞. Σ p^α underflowed for α ≥ 1075.
    y = torch.tensor([0, 0, 0, 0, 1, 1, 2, 2])
    K = ipkit.label_gram(y, 3).to(torch.float64)
    for alpha in (50.0, 500.0, 1e4, 1e6):
        closed = (alpha - math.log1p(2.0 ** (1.0 - alpha)) / math.log(2.0)) / (alpha - 1.0)
        assert float(ipkit.renyi_entropy(K, alpha)) == pytest.approx(closed, abs=1e-12)
        assert float(ipkit.label_entropy(y, alpha)) == pytest.approx(closed, abs=1e-6)  # default-dtype result


def test_large_alpha_tends_to_min_entropy():
    # For α > 1: −log2 λ_max ≤ S_α ≤ α/(α−1) (−log2 λ_max); S_α is non-increasing in α.
    K, _ = _gram(n=60, sigma=3.0, seed=1)
    lam_max = float(torch.linalg.eigvalsh(K / 60).max())
    h_min = -math.log2(lam_max)
    values = [float(ipkit.renyi_entropy(K, a)) for a in (1.5, 2.0, 50.0, 500.0, 1e4)]
    for a, h in zip((1.5, 2.0, 50.0, 500.0, 1e4), values):
        assert h_min - 1e-9 <= h <= a / (a - 1) * h_min + 1e-9
    assert all(b <= a + 1e-12 for a, b in zip(values, values[1:]))
    assert values[-1] == pytest.approx(h_min, abs=1e-3)


def test_alpha_near_one_tends_to_von_neumann_without_round_off():
    # The direct log2(Σ λ^α)/(1 − α) is off by ~1e−4 bits at α = 1 + 1e−12 (round-off / 1e−12).
    K, _ = _gram(n=80, seed=2)
    s1 = float(ipkit.renyi_entropy(K, 1.0))
    assert s1 == pytest.approx(numpy_entropy(K.numpy(), 1.0), abs=1e-10)
    for eps in (1e-12, -1e-12, 1e-9):
        assert float(ipkit.renyi_entropy(K, 1.0 + eps)) == pytest.approx(s1, abs=1e-8)


# ------------------------------------------------------------------------------------------------- lanczos


def numpy_slq(A, alpha, Z, m):
    """Naive stochastic Lanczos quadrature with the same control variates, NumPy float64, loops per probe."""
    n, p = len(A), Z.shape[1]
    quad, c1, c2 = np.zeros(p), np.zeros(p), np.zeros(p)
    nodes = []
    for k in range(p):
        z = Z[:, k]
        basis = [z / np.linalg.norm(z)]
        a, b = [], []
        for j in range(m):
            w = A @ basis[j]
            if j == 0:
                c2[k] = n * w @ w - (A * A).sum()
            a.append(basis[j] @ w)
            for _ in range(2):
                for q in basis:
                    w = w - (q @ w) * q
            b.append(np.linalg.norm(w))
            basis.append(w / b[-1])
        T = np.diag(a) + np.diag(b[:-1], 1) + np.diag(b[:-1], -1)
        theta, U = np.linalg.eigh(T)
        nodes.append((np.clip(theta, 0, None), n * U[0] ** 2))
        c1[k] = n * a[0] - 1.0
    top = max(t.max() for t, _ in nodes)
    for k, (theta, w) in enumerate(nodes):
        if alpha == 1.0:
            f = np.where(theta > 0, -theta * np.log(np.where(theta > 0, theta, 1.0)), 0.0)
        elif abs(alpha - 1) < 0.5:
            f = theta ** alpha - theta
        else:
            f = (theta / top) ** alpha
        quad[k] = (w * f).sum()
    C = np.stack([c1, c2], 1)
    Cc = C - C.mean(0)
    coef = np.linalg.pinv(Cc.T @ Cc) @ Cc.T @ (quad - quad.mean())
    est = quad.mean() - C.mean(0) @ coef
    if alpha == 1.0:
        return est / math.log(2)
    if abs(alpha - 1) < 0.5:
        return math.log1p(est) / ((1 - alpha) * math.log(2))
    return (alpha * math.log2(top) + math.log2(max(est, 1.0))) / (1 - alpha)


@pytest.mark.parametrize("alpha", [1.0, 1.01, 3.0])
def test_lanczos_matches_naive_numpy_implementation(alpha):
    K, _ = _gram(n=120, d=3, sigma=1.5, seed=3)
    p, m, seed = 12, 15, 7
    got = float(ipkit.renyi_entropy(K, alpha, "lanczos", num_probes=p, num_steps=m, seed=seed))
    # the same probes as renyi_entropy draws: Rademacher from a CPU generator seeded with `seed`
    Z = torch.randint(0, 2, (p, 120), generator=torch.Generator().manual_seed(seed)).double().numpy().T * 2 - 1
    assert got == pytest.approx(numpy_slq(K.numpy() / 120, alpha, Z, m), abs=1e-9)


def test_lanczos_exact_on_hand_computed_cases():
    # A = I/N: every probe gives exactly 1 (log2 N); A = 11ᵀ/N: a single eigenvalue 1 (0 bits).
    n = 64
    for alpha in (1.0, 1.01, 3.0):
        H_eye = ipkit.renyi_entropy(torch.eye(n, dtype=torch.float64), alpha, "lanczos", num_probes=4)
        assert float(H_eye) == pytest.approx(math.log2(n), abs=1e-10)
        H_ones = ipkit.renyi_entropy(torch.ones(n, n, dtype=torch.float64), alpha, "lanczos", num_probes=4)
        assert float(H_ones) == pytest.approx(0.0, abs=1e-10)
    # α = 2 stays exact: ‖A‖_F²
    K, _ = _gram()
    assert float(ipkit.renyi_entropy(K, 2.0, "lanczos")) == float(ipkit.renyi_entropy(K, 2.0))


def test_lanczos_is_seeded_batched_and_follows_the_input():
    K, x = _gram(n=150, seed=4)
    K2 = ipkit.gaussian_gram(x, 1.0)
    one = ipkit.renyi_entropy(K, 1.01, "lanczos", num_probes=10, seed=3)
    assert torch.equal(one, ipkit.renyi_entropy(K, 1.01, "lanczos", num_probes=10, seed=3))
    assert not torch.equal(one, ipkit.renyi_entropy(K, 1.01, "lanczos", num_probes=10, seed=4))
    both = ipkit.renyi_entropy(torch.stack([K, K2]), 1.01, "lanczos", num_probes=10, seed=3)
    assert both.shape == (2,)
    assert float(both[0]) == pytest.approx(float(one), abs=1e-12)
    assert float(both[1]) == pytest.approx(float(ipkit.renyi_entropy(K2, 1.01, "lanczos", num_probes=10, seed=3)),
                                           abs=1e-12)
    H32 = ipkit.renyi_entropy(K.float(), 1.01, "lanczos", num_probes=10, seed=3)
    assert H32.dtype == torch.float32
    assert float(H32) == pytest.approx(float(one), abs=1e-4)  # float32 matrix products


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_lanczos_on_cuda_matches_cpu():
    K, _ = _gram(n=300, seed=5)
    cpu = ipkit.renyi_entropy(K, 1.0, "lanczos")
    gpu = ipkit.renyi_entropy(K.cuda(), 1.0, "lanczos")
    assert gpu.device.type == "cuda"
    assert float(gpu) == pytest.approx(float(cpu), abs=1e-8)


def test_joint_entropy_and_mi_accept_the_method():
    K, x = _gram(n=300, d=3, sigma=1.5, seed=6)
    Ky = ipkit.gaussian_gram(x[:, :1], 1.0)
    mi = float(ipkit.mutual_information(K, Ky, 1.01))
    assert float(ipkit.mutual_information(K, Ky, 1.01, "lanczos")) == pytest.approx(mi, abs=0.02)
    assert float(ipkit.joint_entropy(K, Ky, alpha=1.0, method="lanczos")) == pytest.approx(
        float(ipkit.joint_entropy(K, Ky, alpha=1.0)), abs=0.02)


def test_method_and_options_are_checked():
    K, _ = _gram()
    with pytest.raises(ValueError, match=r"unknown method 'eig'; valid names: \['exact', 'lanczos'\]"):
        ipkit.renyi_entropy(K, 1.0, "eig")
    for name, bad in (("num_probes", 1), ("num_steps", 0), ("num_probes", 2.5), ("seed", "a")):
        with pytest.raises(ValueError, match=name):
            ipkit.renyi_entropy(K, 1.0, "lanczos", **{name: bad})


def _low_rank_plus_noise(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 10, (n,), generator=g)
    x = torch.randn(10, 8, generator=g, dtype=torch.float64)[y] @ torch.randn(8, 50, generator=g, dtype=torch.float64)
    return x + 0.5 * torch.randn(n, 50, generator=g, dtype=torch.float64), y


def _within_hundredth_of_exact(x, y):
    d2 = ipkit.pairwise_sq_dists(x)
    sigma = ipkit.alignment_sigma(d2, ipkit.label_gram(y, 10).to(d2.dtype))  # the width the tracker would use
    K = ipkit.gaussian_from_sq_dists(d2, sigma)
    for alpha in (1.0, 1.01, 2.0):
        exact = float(ipkit.renyi_entropy(K, alpha))
        approx = float(ipkit.renyi_entropy(K, alpha, "lanczos"))  # the default probes and steps
        assert abs(approx - exact) < 0.01, (alpha, exact, approx)


def test_lanczos_within_hundredth_of_a_bit_low_rank_plus_noise():
    _within_hundredth_of_exact(*_low_rank_plus_noise(1000))


@pytest.mark.slow  # 24 s on one thread of a busy 2-core host; the N = 1,000 test above runs by default
def test_lanczos_within_hundredth_of_a_bit_mnist_2000(mnist_root):
    x, y = load_dataset("mnist", "train", root=mnist_root, download=False, n=2000, seed=0)
    _within_hundredth_of_exact(x.reshape(2000, -1).to(torch.float64), y)


@pytest.mark.benchmark
def test_large_n_benchmark_quick_writes_its_figures(tmp_path):
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "large_n.json"
    done = subprocess.run([sys.executable, str(root / "benchmarks" / "large_n.py"), "--sizes", "300", "--out", str(out)],
                          capture_output=True, text=True, timeout=600, cwd=root)
    assert done.returncode == 0, done.stderr[-2000:]
    row = json.loads(out.read_text())["rows"][0]
    assert row["n"] == 300 and row["lanczos_s"] > 0 and row["exact_s"] > 0
    assert abs(row["diff_bits"]) < 0.05
