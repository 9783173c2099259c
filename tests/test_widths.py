"""Tests of ipkit.widths: the kernel-alignment width search (docs/method.md §3), its smoothing over steps, and the
k-NN and Silverman alternatives. Checked against the naive NumPy float64 loops of tests/reference.py."""

import math

import numpy as np
import pytest
import torch

import reference as ref
from bad_input import bad_input_test
from ipkit import (
    KernelWidths,
    alignment_grid,
    alignment_scores,
    alignment_sigma,
    alignment_sigmas,
    gaussian_from_sq_dists,
    kernel_alignment,
    knn_sigma,
    label_gram,
    mean_distance,
    pairwise_sq_dists,
    silverman_channel_sigmas,
    silverman_sigma,
)


def _layer(n=40, d=6, seed=0, classes=4, spread=1.0):
    """Squared distances of a layer with some class structure, and the label kernel."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    means = 2.0 * torch.randn(classes, d, generator=g, dtype=torch.float64)
    x = means[y] + spread * torch.randn(n, d, generator=g, dtype=torch.float64)
    return pairwise_sq_dists(x), label_gram(y, classes).double()


# ------------------------------------------------------------------------------------------------ alignment search


@pytest.mark.parametrize("over", ["all", "pairs"])
def test_mean_distance_matches_naive(over):
    d2, _ = _layer(seed=1)
    np.testing.assert_allclose(mean_distance(d2, over).item(), ref.mean_distance(d2.numpy(), over),
                               rtol=1e-13, atol=0)


def test_mean_distance_hand_computed():
    # three points on a line at 0, 3, 4: pair distances 3, 4, 1, each twice in the 3 × 3 matrix, which sum to 16
    d2 = pairwise_sq_dists(torch.tensor([[0.0], [3.0], [4.0]], dtype=torch.float64))
    np.testing.assert_allclose(mean_distance(d2).item(), 16 / 9, rtol=1e-15, atol=0)  # the default: all N² entries
    np.testing.assert_allclose(mean_distance(d2, "all").item(), 16 / 9, rtol=1e-15, atol=0)
    np.testing.assert_allclose(mean_distance(d2, "pairs").item(), 8 / 3, rtol=1e-15, atol=0)


@pytest.mark.parametrize("n", [1, 100, 300])
def test_alignment_grid_is_the_papers_linspace(n):
    d2, _ = _layer(seed=2)
    grid = alignment_grid(d2, n)
    assert grid.shape == (n,)
    np.testing.assert_allclose(grid.numpy(), ref.alignment_search(d2.numpy(), d2.numpy(), n)[0], rtol=1e-13, atol=0)
    pairs = alignment_grid(d2, n, mean="pairs")
    np.testing.assert_allclose(pairs.numpy(), np.linspace(0.3, 10 * ref.mean_distance(d2.numpy(), "pairs"), n),
                               rtol=1e-13, atol=0)


@pytest.mark.parametrize("n", [100, 300])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_alignment_search_matches_naive_loop(n, seed):
    d2, Ky = _layer(seed=seed, spread=0.5 + seed)
    sigmas, scores, best = ref.alignment_search(d2.numpy(), Ky.numpy(), n)
    got_scores = alignment_scores(d2, Ky, alignment_grid(d2, n))
    np.testing.assert_allclose(got_scores.numpy(), scores, rtol=1e-12, atol=0)
    np.testing.assert_allclose(alignment_sigma(d2, Ky, n), best, rtol=1e-13, atol=0)
    assert 0.3 < best < sigmas[-1]  # an interior maximum, so the test says something about the argmax


def test_alignment_sigma_float32_distances():
    d2, Ky = _layer(seed=3)
    _, _, best = ref.alignment_search(d2.numpy(), Ky.numpy(), 300)
    np.testing.assert_allclose(alignment_sigma(d2.float(), Ky.float(), 300), best, rtol=1e-5, atol=0)


def test_alignment_scores_of_a_stack_equal_those_of_each_matrix():
    # 40 layers of N = 100 scored over 300 candidates in one call, as the tracker does (a search that bounds
    # its memory may split such a call into parts): the scores are those of each layer alone, and the naive loop's.
    d2 = torch.stack([_layer(n=100, seed=s, spread=0.5 + s / 10)[0] for s in range(40)])
    Ky = _layer(n=100)[1]  # every `_layer` of 100 samples has these labels
    sigmas = alignment_grid(d2, 300)
    together = alignment_scores(d2, Ky, sigmas)
    assert together.shape == (40, 300)
    for layer in range(40):
        np.testing.assert_allclose(together[layer].numpy(), alignment_scores(d2[layer], Ky, sigmas[layer]).numpy(),
                                   rtol=1e-12, atol=0)
    for layer in (0, 39):
        naive = ref.alignment_search(d2[layer].numpy(), Ky.numpy(), 300)[1]
        np.testing.assert_allclose(together[layer].numpy(), naive, rtol=1e-12, atol=0)


@pytest.mark.parametrize("grid", [1, 2, 8, 9, 17, 100, 300])
def test_alignment_sigmas_is_the_first_argmax_of_the_whole_grid(grid):
    # 40 layers of varied spread and class structure, searched as one stack and one at a time, in float64
    # (no ties): the width found is the grid's own argmax of `alignment_scores`, however the search gets there.
    spreads = 0.2 + 3.0 * torch.rand(40, generator=torch.Generator().manual_seed(grid), dtype=torch.float64)
    d2 = torch.stack([_layer(n=30, d=1 + seed % 7, seed=seed, classes=3, spread=float(spreads[seed]))[0]
                      for seed in range(40)])
    Ky = label_gram(torch.arange(30) % 3, 3).double()  # the labels of every `_layer` above
    sigmas = alignment_grid(d2, grid)
    best = alignment_scores(d2, Ky, sigmas).argmax(dim=-1)
    expected = sigmas.gather(-1, best.unsqueeze(-1)).squeeze(-1)
    np.testing.assert_allclose(alignment_sigmas(d2, Ky, grid).numpy(), expected.numpy(), rtol=1e-13, atol=0)
    np.testing.assert_allclose([alignment_sigma(d, Ky, grid) for d in d2], expected.numpy(), rtol=1e-13, atol=0)
    if grid >= 100:
        # The maxima are spread over the grid, most at odd indices: a search that scored only a sub-grid (every
        # 2nd, 8th, … candidate) and not the candidates between would miss them.
        assert (best % 2 == 1).sum() >= 15 and len(set(best.tolist())) >= 10


def test_alignment_sigma_with_a_label_kernel_that_has_negative_entries():
    # A valid, positive semi-definite K_Y with negative entries, for which the alignment need not rise and fall
    # along the grid as it does for non-negative kernels: the width is still the naive loop's argmax.
    d2, _ = _layer(seed=8)
    z = torch.randn(40, 3, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    Ky = z @ z.T + torch.eye(40, dtype=torch.float64)
    assert (Ky < 0).any()
    _, _, naive_best = ref.alignment_search(d2.numpy(), Ky.numpy(), 300)
    np.testing.assert_allclose(alignment_sigma(d2, Ky, 300), naive_best, rtol=1e-13, atol=0)


def test_alignment_sigma_of_constant_activations_is_finite():
    d2 = pairwise_sq_dists(torch.ones(10, 5, dtype=torch.float64))
    Ky = label_gram(torch.arange(10) % 2, 2).double()
    assert alignment_sigma(d2, Ky, 300) == pytest.approx(0.3, rel=1e-15)  # every candidate is σ_min


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_alignment_scores_of_tiny_widths_with_equal_samples_are_the_kernels(dtype):
    # σ so small that 1/σ² overflows the dtype: K_σ is 1 on the pairs at distance 0 (two equal samples, and the
    # diagonal), 0 elsewhere, and its alignment is finite, as kernel_alignment of gaussian_from_sq_dists says.
    x = torch.tensor([[0.0, 0.0], [0.0, 0.0], [1.0, 0.0], [1.0, 1.0]], dtype=dtype)
    d2, Ky = pairwise_sq_dists(x), label_gram(torch.tensor([0, 0, 1, 1]), 2).to(dtype)
    sigmas = torch.tensor([1e-30, 1e-200, 1.0], dtype=torch.float64).to(dtype)
    sigmas = sigmas[sigmas > 0]  # 1e-200 is 0 in float32
    scores = alignment_scores(d2, Ky, sigmas)
    assert torch.isfinite(scores).all()
    expected = [kernel_alignment(gaussian_from_sq_dists(d2, float(s)), Ky) for s in sigmas]
    np.testing.assert_allclose(scores.double().numpy(), torch.stack(expected).double().numpy(), rtol=1e-6, atol=0)
    K_limit = torch.tensor([[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], dtype=dtype)
    assert scores[0].item() == pytest.approx(kernel_alignment(K_limit, Ky).item(), rel=1e-6)


# ----------------------------------------------------------------------------------------------- k-NN and Silverman


@pytest.mark.parametrize("k", [1, 5, 39])
def test_knn_sigma_matches_naive(k):
    d2, _ = _layer(seed=5)
    np.testing.assert_allclose(knn_sigma(d2, k), ref.knn_sigma(d2.numpy(), k), rtol=1e-13, atol=0)


def test_knn_sigma_hand_computed_and_duplicates():
    # points 0, 1, 3: nearest-neighbour distances 1, 1, 2 -> 4/3; second neighbours 3, 2, 3 -> 8/3
    d2 = pairwise_sq_dists(torch.tensor([[0.0], [1.0], [3.0]], dtype=torch.float64))
    np.testing.assert_allclose(knn_sigma(d2, 1), 4 / 3, rtol=1e-15, atol=0)
    np.testing.assert_allclose(knn_sigma(d2, 2), 8 / 3, rtol=1e-15, atol=0)
    sigma = knn_sigma(pairwise_sq_dists(torch.zeros(4, 3)), 1)  # identical samples: not a zero width
    assert math.isfinite(sigma) and sigma > 0


def test_silverman_sigma_formula():
    for n, dim, gamma in [(100, 64, 1.0), (50, 1, 2.5), (2, 10, 0.1)]:
        np.testing.assert_allclose(silverman_sigma(n, dim, gamma), gamma * n ** (-1 / (4 + dim)), rtol=1e-15, atol=0)


# ---------------------------------------------------------------------------------------------------- KernelWidths


def test_kernel_widths_first_update_then_ema_by_hand():
    kw = KernelWidths()  # alignment rule, β = 0.9, 300 candidates up to step 21, then 100
    expected, raws = None, []
    for t in range(25):
        d2, Ky = _layer(seed=10 + t, spread=0.3 + 0.1 * t)  # the layer changes every step
        raw = alignment_sigma(d2, Ky, 300 if t + 1 <= 21 else 100)  # update t + 1 counts as step t + 1
        raws.append(raw)
        expected = raw if t == 0 else 0.9 * expected + 0.1 * raw
        got = kw.update("conv1", d2, Ky)
        np.testing.assert_allclose(got, expected, rtol=1e-15, atol=0)
        assert kw.sigmas_["conv1"] == got
        assert kw.updates_["conv1"] == t + 1
    assert kw.sigmas_["conv1"] != raws[-1]  # smoothing did something
    assert len(set(raws)) > 5


def test_kernel_widths_grid_is_300_up_to_step_21_then_100():
    # The authors switch grids when their iteration counter, which starts at 0, passes 20: steps 1–21 search
    # 300 candidates, later steps 100.
    d2, Ky = _layer(seed=6)
    on_300, on_100 = alignment_sigma(d2, Ky, 300), alignment_sigma(d2, Ky, 100)
    assert on_300 != on_100  # so the grid in use shows in the width
    kw = KernelWidths(beta=0.0)  # no smoothing: each update returns the rule's width
    assert [kw.update("a", d2, Ky) for _ in range(23)] == [on_300] * 21 + [on_100] * 2
    assert kw.update("b", d2, Ky) == on_300  # another layer starts with its own count
    assert KernelWidths(beta=0.0).update("c", d2, Ky, step=22) == on_100  # a given step decides, not the count
    assert KernelWidths(beta=0.0).update("c", d2, Ky, step=21) == on_300


def test_kernel_widths_layers_are_independent():
    d2a, Kya = _layer(seed=7, spread=0.3)
    d2b, Kyb = _layer(seed=8, spread=2.0)
    together, alone_a, alone_b = KernelWidths(), KernelWidths(), KernelWidths()
    for _ in range(3):
        sa, sb = together.update("a", d2a, Kya), together.update("b", d2b, Kyb)
        assert sa == alone_a.update("a", d2a, Kya)
        assert sb == alone_b.update("b", d2b, Kyb)
    assert together.sigmas_["a"] != together.sigmas_["b"]
    assert together.updates_ == {"a": 3, "b": 3}


def test_kernel_widths_knn_and_silverman_rules():
    d2s = [_layer(seed=s, spread=0.5 + s)[0] for s in range(3)]
    kw = KernelWidths(rule="knn", k=3, beta=0.5)
    expected = None
    for d2 in d2s:
        raw = ref.knn_sigma(d2.numpy(), 3)
        expected = raw if expected is None else 0.5 * expected + 0.5 * raw
        np.testing.assert_allclose(kw.update("fc", d2), expected, rtol=1e-13, atol=0)

    kw = KernelWidths(rule="silverman", gamma=2.0)
    for d2 in d2s:  # N = 40 and d = 64 every step: the smoothed width stays put
        np.testing.assert_allclose(kw.update("conv", d2, dim=64), 2.0 * 40 ** (-1 / 68), rtol=1e-14, atol=0)


def test_kernel_widths_beta_zero_is_no_smoothing():
    kw = KernelWidths(beta=0.0)
    for seed in range(3):
        d2, Ky = _layer(seed=seed, spread=0.5 + seed)
        assert kw.update("a", d2, Ky) == alignment_sigma(d2, Ky, 300)


# ---------------------------------------------------------------------------------------------------------- bad input


def _with(t, idx, value):
    t = t.clone()
    t[idx] = value
    return t


D2, KY = _layer(n=8, seed=9)

BAD_INPUT = {
    "unknown rule": (lambda: KernelWidths(rule="median"), r"median.*alignment, knn, silverman"),
    "beta one": (lambda: KernelWidths(beta=1.0), r"\bbeta\b"),
    "beta negative": (lambda: KernelWidths(beta=-0.1), r"\bbeta\b"),
    "alignment without labels": (lambda: KernelWidths().update("a", D2), r"\bK_y\b"),
    "silverman without dim": (lambda: KernelWidths(rule="silverman").update("a", D2), r"\bdim\b"),
    "nan in d2": (lambda: alignment_sigma(_with(D2, (0, 1), float("nan")), KY), r"\bd2\b.*non-finite"),
    "inf in d2": (lambda: alignment_sigma(_with(D2, (2, 1), float("inf")), KY), r"\bd2\b.*non-finite"),
    "nan in d2, scores": (lambda: alignment_scores(_with(D2, (3, 3), float("nan")), KY, torch.ones(3)),
                          r"\bd2\b.*non-finite"),
    "nan in d2, knn": (lambda: knn_sigma(_with(D2, (0, 1), float("nan")), 2), r"\bd2\b.*non-finite"),
    "nan in d2, kernel widths": (lambda: KernelWidths(rule="knn").update("a", _with(D2, (1, 0), float("nan"))),
                                 r"\bd2\b.*non-finite"),
    "nan in K_y": (lambda: alignment_sigma(D2, _with(KY, (0, 1), float("nan"))), r"\bK_y\b.*non-finite"),
    "nan in d2, update_all": (lambda: KernelWidths().update_all(["a", "b"], torch.stack([D2, _with(D2, (1, 2), float("nan"))]),
                                                                KY), r"\bd2\b.*non-finite"),
    "nan in d2, raw_sigmas knn": (lambda: KernelWidths(rule="knn").raw_sigmas(["a"], _with(D2, (1, 2), float("inf"))[None]),
                                  r"\bd2\b.*non-finite"),
    "sizes, update_all": (lambda: KernelWidths().update_all(["a"], D2[None], KY[:7, :7]), r"\bd2\b.*\bK_y\b"),
    "k too large, kernel widths": (lambda: KernelWidths(rule="knn", k=8).update("a", D2), r"\bk\b.*\[1, 7\]"),
    "silverman without dims, raw_sigmas": (lambda: KernelWidths(rule="silverman").raw_sigmas(["a"], D2[None]),
                                           r"\bdim\b"),
    "silverman channels nan": (lambda: silverman_channel_sigmas(torch.full((3, 2, 2, 2), float("nan"))),
                               r"\bx\b.*non-finite"),
    "sizes": (lambda: alignment_sigma(D2, KY[:7, :7]), r"\bd2\b.*\bK_y\b"),
    "non-square K_y": (lambda: alignment_scores(D2, KY[:, :7], torch.ones(3)), r"\bK_y\b.*square"),
    "candidate sigma zero": (lambda: alignment_scores(D2, KY, torch.tensor([1.0, 0.0])), r"\bsigmas\b.*> 0"),
    "candidate sigma nan": (lambda: alignment_scores(D2, KY, torch.tensor([float("nan")])), r"\bsigmas\b.*finite"),
    "no candidates": (lambda: alignment_sigma(D2, KY, n_candidates=0), r"\bn_candidates\b"),
    "sigma_min zero": (lambda: alignment_grid(D2, 10, sigma_min=0.0), r"\bsigma_min\b"),
    "sigma_min nan": (lambda: alignment_grid(D2, 10, sigma_min=float("nan")), r"\bsigma_min\b"),
    "k zero": (lambda: knn_sigma(D2, 0), r"\bk\b.*\[1, 7\]"),
    "k too large": (lambda: knn_sigma(D2, 8), r"\bk\b.*\[1, 7\]"),
    "silverman one sample": (lambda: silverman_sigma(1, 4), r"\bn\b"),
    "silverman dim zero": (lambda: silverman_sigma(10, 0), r"\bdim\b"),
    "silverman gamma zero": (lambda: silverman_sigma(10, 4, 0.0), r"\bgamma\b"),
}


test_bad_input_raises_value_error_naming_the_argument = bad_input_test(BAD_INPUT)


def test_batched_alignment_and_update_all_equal_one_layer_at_a_time():
    layers = [_layer(seed=s) for s in (1, 2, 3)]
    Ky = layers[0][1]
    d2 = torch.stack([_layer(seed=s)[0] for s in (1, 2, 3)])
    # the same labels for every layer, as in one measurement
    one_by_one = [alignment_sigma(d, Ky, 300) for d in d2]
    batched = alignment_sigmas(d2, Ky, 300).tolist()
    np.testing.assert_allclose(batched, one_by_one, rtol=1e-12, atol=0)
    a, b = KernelWidths(), KernelWidths()
    for _ in range(3):
        together = a.update_all(["l0", "l1", "l2"], d2, Ky)
        alone = [b.update(f"l{i}", d2[i], Ky) for i in range(3)]
        np.testing.assert_allclose(together, alone, rtol=1e-12, atol=0)


def test_smoothing_is_per_step_when_steps_are_given():
    d2a, Ky = _layer(seed=1)
    d2b, _ = _layer(seed=2, spread=3.0)
    kw = KernelWidths(beta=0.9)
    first = kw.update("l", d2a, Ky, step=10)
    raw = kw.raw_sigma("l", d2b, Ky)
    got = kw.update("l", d2b, Ky, step=15)  # five steps later: the old width weighs β⁵
    assert got == pytest.approx(0.9**5 * first + (1 - 0.9**5) * raw, rel=1e-12)
    assert kw.steps_["l"] == 15
