"""Tests of ipkit.kernels: the tensor (Gaussian) kernel, the multivariate kernel, the label kernel and kernel
alignment (distances: tests/test_distances.py). Properties, hand-computed values, and agreement with the naive
NumPy float64 references."""

import numpy as np
import pytest
import torch

import reference as ref
from bad_input import bad_input_test
from draws import randn

from ipkit import (channel_sq_dists, gaussian_from_sq_dists, gaussian_gram, kernel_alignment, label_gram,
                   multivariate_gram, pairwise_sq_dists)


# ----------------------------------------------------------------------------------------------------- Gaussian kernel


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gaussian_gram_symmetric_unit_diagonal_in_unit_interval(dtype):
    K = gaussian_gram(randn(8, 3, 2, 2, seed=5, dtype=dtype), sigma=3.0)
    assert K.dtype == dtype
    assert torch.equal(K, K.T)
    assert torch.equal(K.diagonal(), torch.ones(8, dtype=dtype))
    assert ((K > 0) & (K <= 1)).all()


@pytest.mark.parametrize("sigma", [0.5, 2.0, 7.3])
def test_gaussian_gram_matches_naive(sigma):
    x = randn(7, 4, seed=6)
    np.testing.assert_allclose(gaussian_gram(x, sigma).numpy(), ref.gaussian_gram(x.numpy(), sigma),
                               rtol=1e-12, atol=1e-14)


def test_gaussian_gram_hand_computed():
    # Two points at distance 2: K_01 = exp(-4 / σ²), no factor 2 in the authors' convention.
    x = torch.tensor([[0.0, 0.0], [2.0, 0.0]], dtype=torch.float64)
    K = gaussian_gram(x, sigma=2.0)
    np.testing.assert_allclose(K.numpy(), [[1.0, np.exp(-1.0)], [np.exp(-1.0), 1.0]], rtol=1e-15, atol=0)


def test_gaussian_from_sq_dists_stack_of_widths():
    d2 = pairwise_sq_dists(randn(6, 3, seed=7))
    sigmas = torch.tensor([0.5, 1.0, 4.0], dtype=torch.float64)
    K = gaussian_from_sq_dists(d2, sigmas)
    assert K.shape == (3, 6, 6)
    for g, s in enumerate(sigmas.tolist()):
        np.testing.assert_allclose(K[g].numpy(), gaussian_from_sq_dists(d2, s).numpy(), rtol=1e-15, atol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_width_as_number_or_tensor_gives_the_same_kernel(dtype):
    d2 = pairwise_sq_dists(randn(6, 3, seed=7, dtype=dtype))
    for sigma in (0.3, 1.0, 7.77, 1e-25, 1e-200, 1e30):
        K = gaussian_from_sq_dists(d2, sigma)
        assert torch.equal(K, gaussian_from_sq_dists(d2, torch.tensor(sigma, dtype=torch.float64)))
        assert torch.equal(K, gaussian_from_sq_dists(d2, torch.tensor([2.0, sigma], dtype=torch.float64))[1])
        assert torch.equal(K.diagonal(), torch.ones(6, dtype=dtype))


def test_sigma_as_python_float_keeps_float64_precision():
    # σ = 0.3 is not a float32 number; rounding it to float32 would change exp(-1 / 0.09) in its 6th digit.
    d2 = torch.tensor([[0.0, 1.0], [1.0, 0.0]], dtype=torch.float64)
    np.testing.assert_allclose(gaussian_from_sq_dists(d2, 0.3)[0, 1].item(), np.exp(-1.0 / 0.3**2),
                               rtol=1e-13, atol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_extreme_widths_and_duplicates_give_finite_kernels(dtype):
    x = randn(6, 4, seed=8, dtype=dtype)
    ones = torch.ones(6, 6, dtype=dtype)
    eye = torch.eye(6, dtype=dtype)
    for sigma in (1e8, 1e30, 1e200):  # all-ones kernel (1e200 overflows float32: still a valid width)
        torch.testing.assert_close(gaussian_gram(x, sigma), ones, rtol=0, atol=1e-14)
    for sigma in (1e-6, 1e-25, 1e-200):  # identity (σ² underflows to 0 in float32 below ~1e-19)
        assert torch.equal(gaussian_gram(x, sigma), eye)
    dup = torch.cat([x[:3], x[:3]])
    K = gaussian_gram(dup, 1.0)
    assert torch.isfinite(K).all()
    torch.testing.assert_close(K[:3, :3], K[3:, 3:], rtol=0, atol=1e-6)
    torch.testing.assert_close(K[:3, 3:].diagonal(), torch.ones(3, dtype=dtype), rtol=0, atol=1e-6)


# ------------------------------------------------------------------------------------------------- multivariate kernel


def test_multivariate_gram_equal_widths_is_the_tensor_kernel():
    x = randn(10, 5, 3, 3, seed=9)
    K_multi = multivariate_gram(x, torch.full((5,), 4.0, dtype=torch.float64))
    np.testing.assert_allclose(K_multi.numpy(), gaussian_gram(x, 4.0).numpy(), rtol=0, atol=1e-9)


def test_multivariate_gram_matches_naive_hadamard_product():
    x = randn(7, 3, 2, 2, seed=10)
    sigmas = [0.8, 2.0, 5.0]
    np.testing.assert_allclose(multivariate_gram(x, sigmas).numpy(), ref.multivariate_gram(x.numpy(), sigmas),
                               rtol=1e-12, atol=1e-300)


def test_multivariate_gram_unit_diagonal_with_tiny_widths():
    K = multivariate_gram(randn(5, 3, 2, seed=11, dtype=torch.float32), [1e-25, 1e-25, 1e-25])
    assert torch.equal(K, torch.eye(5))


# ----------------------------------------------------------------------------------------------------- label kernel


def test_label_gram_is_class_equality_indicator():
    y = torch.tensor([0, 2, 1, 2, 0, 3])
    K = label_gram(y, num_classes=4)
    np.testing.assert_array_equal(K.numpy(), ref.label_gram(y.numpy()))
    assert K.dtype == torch.get_default_dtype()


def test_label_gram_equals_gaussian_on_one_hot_with_authors_sigma():
    y = torch.tensor([0, 1, 1, 2, 0])
    one_hot = torch.nn.functional.one_hot(y, 3).to(torch.float64)
    np.testing.assert_allclose(label_gram(y, 3).double().numpy(), gaussian_gram(one_hot, 0.1).numpy(),
                               rtol=0, atol=1e-80)


# --------------------------------------------------------------------------------------------------- kernel alignment


def test_kernel_alignment_of_a_kernel_with_itself_is_one():
    K = gaussian_gram(randn(8, 3, seed=12), 2.0)
    np.testing.assert_allclose(kernel_alignment(K, K).item(), 1.0, rtol=0, atol=1e-14)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kernel_alignment_matches_naive_and_lies_in_unit_interval(seed):
    x = randn(12, 4, seed=seed)
    y = torch.randint(0, 3, (12,), generator=torch.Generator().manual_seed(seed))
    K, K_y = gaussian_gram(x, 1.5), label_gram(y, 3).double()
    a = kernel_alignment(K, K_y).item()
    assert 0.0 <= a <= 1.0
    np.testing.assert_allclose(a, ref.kernel_alignment(K.numpy(), K_y.numpy()), rtol=1e-13, atol=0)


def test_kernel_alignment_batched_over_widths():
    d2 = pairwise_sq_dists(randn(9, 2, seed=13))
    K_y = label_gram(torch.tensor([0, 1, 0, 1, 2, 2, 0, 1, 2]), 3).double()
    sigmas = [0.3, 1.0, 3.0]
    a = kernel_alignment(gaussian_from_sq_dists(d2, torch.tensor(sigmas, dtype=torch.float64)), K_y)
    assert a.shape == (3,)
    for g, s in enumerate(sigmas):
        np.testing.assert_allclose(a[g].item(), ref.kernel_alignment(np.exp(-d2.numpy() / s**2), K_y.numpy()),
                                   rtol=1e-13, atol=0)


# ---------------------------------------------------------------------------------------------------------- bad input


def _nan_at(x, idx):
    x = x.clone()
    x[idx] = float("nan")
    return x


def _inf_at(x, idx):
    x = x.clone()
    x[idx] = float("inf")
    return x


X = randn(5, 3, seed=14)
X4 = randn(5, 2, 2, 2, seed=15)
XW = randn(4, 2 * 4096 + 7, seed=16, dtype=torch.float32)  # wide rows
K5 = torch.eye(5, dtype=torch.float64)

BAD_INPUT = {
    "one sample": (lambda: pairwise_sq_dists(X[:1]), r"\bx\b.*at least 2 samples"),
    "one sample, gram": (lambda: gaussian_gram(X[:1], 1.0), r"\bx\b.*at least 2 samples"),
    "one sample, multivariate": (lambda: multivariate_gram(X4[:1], [1.0, 1.0]), r"\bx\b.*at least 2 samples"),
    "one label": (lambda: label_gram(torch.tensor([0]), 2), r"\by\b.*at least 2 samples"),
    "nan in x": (lambda: pairwise_sq_dists(_nan_at(X, (2, 1))), r"\bx\b.*non-finite"),
    "inf in x": (lambda: gaussian_gram(_inf_at(X, (4, 0)), 1.0), r"\bx\b.*non-finite"),
    "-inf in x": (lambda: pairwise_sq_dists(-_inf_at(X, (0, 0))), r"\bx\b.*non-finite"),
    "nan in wide x": (lambda: pairwise_sq_dists(_nan_at(XW, (3, 4097))), r"\bx\b.*1 non-finite"),
    "inf in wide x": (lambda: pairwise_sq_dists(_inf_at(XW, (0, 5))), r"\bx\b.*1 non-finite"),
    "overflowing x": (lambda: pairwise_sq_dists(torch.full((3, 4), 1e30).index_fill_(0, torch.tensor([1]), -1e30)),
                      r"squared distances of x overflow torch.float32.*float64"),
    "nan in channel x": (lambda: multivariate_gram(_nan_at(X4, (1, 1, 0, 1)), [1.0, 1.0]), r"\bx\b.*non-finite"),
    "sigma zero": (lambda: gaussian_gram(X, 0.0), r"\bsigma\b.*> 0"),
    "sigma negative": (lambda: gaussian_gram(X, -1.0), r"\bsigma\b.*> 0"),
    "sigma nan": (lambda: gaussian_gram(X, float("nan")), r"\bsigma\b.*finite"),
    "sigma inf": (lambda: gaussian_gram(X, float("inf")), r"\bsigma\b.*finite"),
    "sigma string": (lambda: gaussian_gram(X, "wide"), r"\bsigma\b.*number or a tensor"),
    "sigmas strings": (lambda: multivariate_gram(X4, ["a", "b"]), r"\bsigmas\b.*number or a tensor"),
    "sigma stack with a zero": (lambda: gaussian_from_sq_dists(K5, torch.tensor([1.0, 0.0])), r"\bsigma\b"),
    "sigmas negative": (lambda: multivariate_gram(X4, [1.0, -1.0]), r"\bsigmas\b.*> 0"),
    "sigmas nan": (lambda: multivariate_gram(X4, [1.0, float("nan")]), r"\bsigmas\b.*finite"),
    "too few sigmas": (lambda: multivariate_gram(X4, [1.0]), r"\bsigmas\b.*one width per channel"),
    "too many sigmas": (lambda: multivariate_gram(X4, [1.0, 1.0, 1.0]), r"\bsigmas\b.*one width per channel"),
    "no channel axis": (lambda: channel_sq_dists(torch.ones(5)), r"\bx\b.*channel"),
    "negative label": (lambda: label_gram(torch.tensor([0, -1, 1]), 2), r"labels.*\[0, 2\)"),
    "label too large": (lambda: label_gram(torch.tensor([0, 2, 1]), 2), r"labels.*\[0, 2\)"),
    "float labels": (lambda: label_gram(torch.tensor([0.0, 1.0]), 2), r"\by\b.*integer"),
    "2-D labels": (lambda: label_gram(torch.zeros(3, 2, dtype=torch.int64), 2), r"\by\b.*1-D"),
    "alignment sizes": (lambda: kernel_alignment(K5, torch.eye(4)), r"\bK1\b.*\bK2\b|\bK2\b.*\bK1\b"),
    "alignment non-square": (lambda: kernel_alignment(torch.ones(5, 4), K5), r"\bK1\b.*square"),
    "alignment nan": (lambda: kernel_alignment(K5, _nan_at(K5, (0, 1))), r"\bK2\b.*non-finite"),
    "alignment inf": (lambda: kernel_alignment(_inf_at(K5, (2, 3)), K5), r"\bK1\b.*non-finite"),
}


test_bad_input_raises_value_error_naming_the_argument = bad_input_test(BAD_INPUT)
