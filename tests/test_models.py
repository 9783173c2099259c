"""The paper's networks: measured layers (names, order, output shapes), initialisation and name lookup."""

import math

import pytest
import torch
from torch import nn

from ipkit.models import ACTIVATIONS, MLP, VGG16, SmallCNN, build_model, make_activation


def measured_outputs(model: nn.Module, x: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Run `model` on x in eval mode and return {layer name: output} for its measured layers, and the logits."""
    outputs, handles = {}, []
    for name in model.measured_layers():
        hook = lambda module, inputs, output, name=name: outputs.__setitem__(name, output)  # noqa: E731
        handles.append(model.get_submodule(name).register_forward_hook(hook))
    model.eval()
    with torch.no_grad():
        logits = model(x)
    for h in handles:
        h.remove()
    return outputs, logits


def shapes(outputs: dict[str, torch.Tensor]) -> dict[str, tuple[int, ...]]:
    return {name: tuple(t.shape) for name, t in outputs.items()}


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_mlp_measured_layers(activation):
    torch.manual_seed(0)
    model = MLP(activation)
    outputs, logits = measured_outputs(model, torch.rand(5, 1, 28, 28))
    assert model.measured_layers() == ["fc1", "fc2", "fc3", "fc4", "out"]
    assert shapes(outputs) == {"fc1": (5, 1024), "fc2": (5, 20), "fc3": (5, 20), "fc4": (5, 20), "out": (5, 10)}
    assert torch.equal(outputs["out"], logits)
    # BN follows the activation, so the measured output is the BatchNorm's output
    assert isinstance(model.fc1[1], ACTIVATIONS[activation]) and isinstance(model.fc1[2], nn.BatchNorm1d)


def test_cnn_2019_measured_layers():
    torch.manual_seed(0)
    model = SmallCNN("2019", activation="relu")
    outputs, logits = measured_outputs(model, torch.rand(3, 1, 28, 28))
    assert model.measured_layers() == ["conv1", "conv2", "conv3", "fc1", "out"]
    assert shapes(outputs) == {
        "conv1": (3, 4, 28, 28), "conv2": (3, 8, 28, 28), "conv3": (3, 16, 14, 14), "fc1": (3, 256), "out": (3, 10)
    }
    assert model.fc1[0].in_features == 784
    assert not any(isinstance(m, nn.BatchNorm2d | nn.BatchNorm1d) for m in model.modules())
    # no BN: the measured hidden outputs are ReLU outputs, before pooling
    assert all(bool((outputs[name] >= 0).all()) for name in ["conv1", "conv2", "conv3", "fc1"])
    assert torch.equal(outputs["out"], logits)


def test_cnn_2023_measured_layers():
    torch.manual_seed(0)
    model = SmallCNN("2023", activation="relu")
    outputs, _ = measured_outputs(model, torch.rand(3, 1, 28, 28))
    assert shapes(outputs) == {
        "conv1": (3, 4, 26, 26), "conv2": (3, 8, 24, 24), "conv3": (3, 16, 10, 10), "fc1": (3, 256), "out": (3, 10)
    }
    assert model.fc1[0].in_features == 400
    for name in ["conv1", "conv2", "conv3", "fc1"]:
        assert isinstance(model.get_submodule(name)[-1], nn.BatchNorm2d | nn.BatchNorm1d), name
    assert isinstance(model.pool1, nn.MaxPool2d) and "pool1" not in model.measured_layers()


def test_vgg16_measured_layers_reduced_width():
    torch.manual_seed(0)
    model = VGG16(width=0.25)
    outputs, logits = measured_outputs(model, torch.rand(2, 3, 32, 32))
    names = [f"conv{i}" for i in range(1, 14)] + ["fc1", "fc2", "out"]
    assert model.measured_layers() == names
    channels = [16, 16, 32, 32, 64, 64, 64, 128, 128, 128, 128, 128, 128]
    sides = [32, 32, 16, 16, 8, 8, 8, 4, 4, 4, 2, 2, 2]
    expected = {f"conv{i + 1}": (2, c, s, s) for i, (c, s) in enumerate(zip(channels, sides))}
    expected |= {"fc1": (2, 1024), "fc2": (2, 1024), "out": (2, 10)}
    assert shapes(outputs) == expected
    assert torch.equal(outputs["out"], logits)
    # Conv → BN → ReLU: every measured conv and fc output is a ReLU output
    assert all(bool((outputs[name] >= 0).all()) for name in names[:-1])
    # fc1 comes before fc2 in the forward pass: fc2's input is fc1's output
    assert model.fc1[1].in_features == 128 and model.fc2[1].in_features == 1024


def test_vgg16_full_width_has_sixteen_measured_layers():
    model = build_model("vgg16", num_classes=10)
    assert len(model.measured_layers()) == 16
    assert [model.get_submodule(f"conv{i}")[0].out_channels for i in (1, 3, 5, 8, 13)] == [64, 128, 256, 512, 512]
    assert (model.fc1[1].in_features, model.fc1[1].out_features, model.fc2[1].out_features) == (512, 4096, 4096)
    assert model.out.out_features == 10
    assert isinstance(model.fc1[0], nn.Dropout) and isinstance(model.conv1[1], nn.BatchNorm2d)


def test_measured_layer_names_are_modules():
    for name, kwargs in [("mlp", {}), ("cnn", {}), ("vgg16", {"width": 0.1})]:
        model = build_model(name, **kwargs)
        modules = dict(model.named_modules())
        assert all(layer in modules for layer in model.measured_layers()), name


def test_kaiming_init_for_relu():
    torch.manual_seed(0)
    model = MLP("relu")
    w = model.fc1[0].weight  # (1024, 784)
    assert w.std().item() == pytest.approx(math.sqrt(2 / 784), rel=0.02)
    assert w.mean().item() == pytest.approx(0.0, abs=1e-3)


def test_xavier_init_for_tanh():
    torch.manual_seed(0)
    model = MLP("tanh")
    w = model.fc1[0].weight
    bound = 5 / 3 * math.sqrt(6 / (784 + 1024))
    assert w.abs().max().item() <= bound
    assert w.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.02)


@pytest.mark.parametrize(
    "name, kwargs",
    [("mlp", {"activation": "tanh"}), ("cnn", {"variant": "2019"}), ("cnn", {"variant": "2023"}),
     ("vgg16", {"width": 0.1})],
)
def test_biases_zero_and_batchnorm_identity(name, kwargs):
    model = build_model(name, **kwargs)
    for module in model.modules():
        if isinstance(module, nn.Linear | nn.Conv2d):
            assert torch.equal(module.bias, torch.zeros_like(module.bias))
        if isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d):
            assert torch.equal(module.weight, torch.ones_like(module.weight))
            assert torch.equal(module.bias, torch.zeros_like(module.bias))


def test_width_rounds_and_stays_positive():
    model = VGG16(width=0.001)
    assert model.conv1[0].out_channels == 1 and model.fc1[1].out_features == 4
    with pytest.raises(ValueError, match="width"):
        VGG16(width=0)


def test_unknown_names_raise_listing_valid_ones():
    with pytest.raises(ValueError, match=r"'resnet'.*\['cnn', 'mlp', 'vgg16'\]"):
        build_model("resnet")
    with pytest.raises(ValueError, match=r"'sigmoid'.*\['relu', 'tanh'\]"):
        MLP("sigmoid")
    with pytest.raises(ValueError, match=r"'2020'.*\['2019', '2023'\]"):
        SmallCNN("2020")
    with pytest.raises(ValueError, match="activation"):
        build_model("vgg16", activation="gelu")
    assert isinstance(make_activation("tanh"), nn.Tanh)
