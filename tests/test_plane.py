"""ipkit.information_plane: one measurement's H(T), I(X;T), I(T;Y) against the naive NumPy references, and its
bad input refused with a ValueError naming the argument."""

import numpy as np
import pytest
import torch

import reference as ref
from bad_input import bad_input_test
from ipkit import information_plane, pairwise_sq_dists

ALPHAS = (1.0, 1.01, 2.0)


def _measurement(n=12, layers=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 6, generator=g, dtype=torch.float64)
    t = torch.randn(layers, n, 4, generator=g, dtype=torch.float64)
    y = torch.arange(n) % 3
    return torch.stack([pairwise_sq_dists(ti) for ti in t]), pairwise_sq_dists(x), t, x, y


@pytest.mark.parametrize("alpha", ALPHAS)
def test_information_plane_equals_naive_numpy(alpha):
    d2_t, d2_x, t, x, y = _measurement()
    sigma_t, sigma_x = [0.8, 1.5, 3.0], 1.2
    out = information_plane(d2_t, d2_x, y, sigma_t, sigma_x, alpha)
    K_x, K_y = ref.gaussian_gram(x.numpy(), sigma_x), ref.label_gram(y.numpy())
    for i, sigma in enumerate(sigma_t):
        K_t = ref.gaussian_gram(t[i].numpy(), sigma)
        assert float(out["H_T"][i]) == pytest.approx(ref.renyi_entropy(K_t, alpha), abs=1e-9)
        assert float(out["I_XT"][i]) == pytest.approx(ref.mutual_information(K_x, K_t, alpha), abs=1e-9)
        # H(Y) comes from the class counts in the default float dtype (float32): round-off ~1e-7 bits
        assert float(out["I_TY"][i]) == pytest.approx(ref.mutual_information(K_t, K_y, alpha), abs=1e-6)
    assert float(out["H_X"]) == pytest.approx(ref.renyi_entropy(K_x, alpha), abs=1e-9)
    assert float(out["H_Y"]) == pytest.approx(ref.renyi_entropy(K_y, alpha), abs=1e-6)


def test_integer_distances_are_taken_as_floats():
    d2 = torch.tensor([[0, 1, 4], [1, 0, 1], [4, 1, 0]])
    out = information_plane(d2[None], d2, torch.tensor([0, 1, 1]), [1.0], 1.0)
    expected = information_plane(d2[None].float(), d2.float(), torch.tensor([0, 1, 1]), [1.0], 1.0)
    for key, value in expected.items():
        assert torch.equal(out[key], value), key


D2_T, D2_X, _, _, Y = _measurement(n=6, layers=2)


def _with(d2, index, value):
    d2 = d2.clone()
    d2[index] = value
    return d2


def _plane(**changes):
    args = dict(d2_t=D2_T, d2_x=D2_X, y=Y, sigma_t=[1.0, 2.0], sigma_x=1.0, alpha=1.01, method="exact")
    return lambda: information_plane(**{**args, **changes})


BAD_INPUT = {
    "d2_t not a tensor": (_plane(d2_t=D2_T.numpy()), r"\bd2_t\b.*torch.Tensor"),
    "d2_t one layer without its axis": (_plane(d2_t=D2_T[0]), r"\bd2_t\b.*\(L, N, N\)"),
    "d2_t non-square": (_plane(d2_t=D2_T[:, :, :5]), r"\bd2_t\b.*\(L, N, N\)"),
    "d2_t one sample": (_plane(d2_t=D2_T[:, :1, :1]), r"\bd2_t\b.*at least 2 samples"),
    "nan in d2_t": (_plane(d2_t=_with(D2_T, (1, 2, 3), float("nan"))), r"\bd2_t\b.*1 non-finite"),
    "negative d2_t": (_plane(d2_t=_with(D2_T, (0, 2, 3), -1.0)), r"\bd2_t\b.*≥ 0"),
    "d2_x a stack": (_plane(d2_x=D2_T), r"\bd2_x\b.*\(N, N\)"),
    "inf in d2_x": (_plane(d2_x=_with(D2_X, (0, 1), float("inf"))), r"\bd2_x\b.*non-finite"),
    "sample counts": (_plane(d2_x=D2_X[:5, :5]), r"\bd2_t\b.*\bd2_x\b.*N = 6.*N = 5"),
    "labels too few": (_plane(y=Y[:5]), r"\by\b.*5 labels for 6 samples"),
    "float labels": (_plane(y=Y.float()), r"\by\b.*integer labels"),
    "negative label": (_plane(y=_with(Y, 0, -1)), r"labels must lie in \[0, ∞\)"),
    "too few widths": (_plane(sigma_t=[1.0]), r"\bsigma_t\b.*one width per layer: 2 layers.*1 widths"),
    "too many widths": (_plane(sigma_t=[1.0, 1.0, 1.0]), r"\bsigma_t\b.*one width per layer"),
    "width zero": (_plane(sigma_t=[1.0, 0.0]), r"\bsigma_t\b.*> 0"),
    "width nan": (_plane(sigma_t=torch.tensor([1.0, float("nan")])), r"\bsigma_t\b.*finite"),
    "sigma_x negative": (_plane(sigma_x=-8.0), r"\bsigma_x\b.*> 0"),
    "sigma_x a string": (_plane(sigma_x="alignment"), r"\bsigma_x\b.*number or a tensor"),
    "sigma_x two widths": (_plane(sigma_x=[1.0, 2.0]), r"\bsigma_x\b.*one width"),
    "alpha zero": (_plane(alpha=0.0), r"\balpha\b.*> 0"),
    "unknown method": (_plane(method="svd"), r"unknown method 'svd'.*exact.*lanczos"),
}


test_bad_input_raises_value_error_naming_the_argument = bad_input_test(BAD_INPUT)


def test_good_input_of_the_bad_input_table_is_accepted():
    out = _plane()()  # the arguments the table changes one at a time
    assert np.isfinite(torch.cat([out["H_T"], out["I_XT"], out["I_TY"]]).numpy()).all()
