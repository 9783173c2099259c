"""Activation capture: hooks are removed on exit (also on errors), unknown names are reported with the valid ones,
and `activations` returns each named module's output."""

import pytest
import torch
from torch import nn

from ipkit.hooks import activations, capture, resolve_layers
from ipkit.models import build_model


def hook_count(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) for m in model.modules())


@pytest.fixture
def mlp():
    torch.manual_seed(0)
    return build_model("mlp").eval()


def test_capture_calls_fn_in_depth_order_and_removes_hooks(mlp):
    seen = []
    with capture(mlp, ["fc1", "fc3", "out"], lambda name, out: seen.append((name, tuple(out.shape)))):
        assert hook_count(mlp) == 3
        mlp(torch.rand(4, 1, 28, 28))
    assert seen == [("fc1", (4, 1024)), ("fc3", (4, 20)), ("out", (4, 10))]
    assert hook_count(mlp) == 0
    mlp(torch.rand(4, 1, 28, 28))  # after the block a forward pass reaches fn no more
    assert len(seen) == 3


def test_capture_removes_hooks_when_block_raises(mlp):
    seen = []
    with pytest.raises(RuntimeError, match="inside the block"):
        with capture(mlp, mlp.measured_layers(), lambda name, out: seen.append(name)):
            assert hook_count(mlp) == 5
            raise RuntimeError("inside the block")
    assert hook_count(mlp) == 0
    mlp(torch.rand(2, 1, 28, 28))
    assert seen == []


def test_capture_removes_hooks_when_fn_raises_during_forward(mlp):
    def fn(name, out):
        if name == "fc2":
            raise ArithmeticError(f"fn failed at {name}")

    with pytest.raises(ArithmeticError, match="fc2"):
        with capture(mlp, mlp.measured_layers(), fn):
            mlp(torch.rand(3, 784))
    assert hook_count(mlp) == 0


def test_capture_keeps_hooks_the_user_registered(mlp):
    handle = mlp.fc1.register_forward_hook(lambda module, inputs, output: None)
    with capture(mlp, ["fc1"], lambda name, out: None):
        assert len(mlp.fc1._forward_hooks) == 2
    assert list(mlp.fc1._forward_hooks) == [handle.id]
    handle.remove()


def test_unknown_layer_lists_valid_names(mlp):
    with pytest.raises(ValueError, match="unknown layer") as info:
        with capture(mlp, ["fc1", "fc9"], lambda name, out: None):
            pass
    message = str(info.value)
    assert "fc9" in message
    for valid in ["'fc1'", "'fc2'", "'fc4'", "'out'", "'fc1.0'"]:
        assert valid in message
    assert hook_count(mlp) == 0  # nothing registered before the check


def test_no_layers_is_an_error(mlp):
    with pytest.raises(ValueError, match="empty"):
        resolve_layers(mlp, [])


def test_resolve_layers_keeps_the_given_order(mlp):
    assert list(resolve_layers(mlp, ["out", "fc2", "fc1.0"])) == ["out", "fc2", "fc1.0"]
    assert resolve_layers(mlp, ["fc2"])["fc2"] is mlp.fc2


def test_non_tensor_output_is_a_type_error():
    class Pair(nn.Module):
        def forward(self, x):
            return x, x

    model = nn.Sequential(nn.Linear(3, 3), Pair())
    with pytest.raises(TypeError, match="'1'"):
        activations(model, torch.rand(2, 3), ["1"])
    assert hook_count(model) == 0


def test_activations_shapes_mlp(mlp):
    out = activations(mlp, torch.rand(7, 1, 28, 28), mlp.measured_layers())
    assert {name: tuple(t.shape) for name, t in out.items()} == {
        "fc1": (7, 1024), "fc2": (7, 20), "fc3": (7, 20), "fc4": (7, 20), "out": (7, 10)
    }
    assert hook_count(mlp) == 0


@pytest.mark.parametrize("variant, shapes", [
    ("2023", {"conv1": (5, 4, 26, 26), "conv2": (5, 8, 24, 24), "conv3": (5, 16, 10, 10), "fc1": (5, 256),
              "out": (5, 10)}),
    ("2019", {"conv1": (5, 4, 28, 28), "conv2": (5, 8, 28, 28), "conv3": (5, 16, 14, 14), "fc1": (5, 256),
              "out": (5, 10)}),
])
def test_activations_shapes_cnn(variant, shapes):
    torch.manual_seed(0)
    cnn = build_model("cnn", variant=variant).eval()
    out = activations(cnn, torch.rand(5, 1, 28, 28), cnn.measured_layers())
    assert {name: tuple(t.shape) for name, t in out.items()} == shapes


def test_activations_are_the_module_outputs_detached(mlp):
    x = torch.rand(6, 1, 28, 28)
    out = activations(mlp, x, ["fc1", "out"])
    with torch.no_grad():
        expected_fc1 = mlp.fc1(x.flatten(1))
        expected_out = mlp(x)
    torch.testing.assert_close(out["fc1"], expected_fc1, rtol=0, atol=0)
    torch.testing.assert_close(out["out"], expected_out, rtol=0, atol=0)
    assert not out["fc1"].requires_grad and not out["out"].requires_grad
