"""The paper's networks: the MNIST MLP, the small MNIST CNN and VGG-16 with BN for CIFAR-10 (docs/method.md §5).

Every measured layer is a named child module whose forward output is exactly the quantity measured: the block's
output after its activation (and after BN where BN follows the activation), before max-pooling (docs/method.md §4).
`model.measured_layers()` lists these names in depth order; the last one is the output layer, whose logits the
tracker passes through a softmax.

Example:
    >>> model = build_model("cnn", variant="2023")
    >>> model.measured_layers()
    ['conv1', 'conv2', 'conv3', 'fc1', 'out']
"""

import numbers

import torch
from torch import Tensor, nn

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU}

# VGG-16 configuration "D": output channels of the 13 conv layers, "M" a 2×2 max-pool.
VGG16_CONFIG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


def make_activation(name: str) -> nn.Module:
    """Return a fresh activation module for `name` ("tanh" or "relu")."""
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; valid names: {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def init_weights(model: nn.Module, activation: str) -> None:
    """Initialise in place as the authors' code does (PAPER.md §5).

    Kaiming-normal (fan-in, ReLU gain) for ReLU nets, Xavier-uniform with the tanh gain 5/3 for tanh nets, every
    bias zero; BatchNorm weight 1 and bias 0.
    """
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            if activation == "relu":
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            else:
                nn.init.xavier_uniform_(m.weight, gain=nn.init.calculate_gain(activation))
            nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class MLP(nn.Module):
    """784-1024-20-20-20-10 perceptron for MNIST; each hidden block Linear → activation → BatchNorm1d.

    Measured layers: fc1..fc4 (hidden blocks) and out (logits). Input (N, 1, 28, 28) or (N, 784).

    Args:
        activation: "tanh" or "relu".
    """

    def __init__(self, activation: str = "tanh"):
        super().__init__()
        sizes = (784, 1024, 20, 20, 20)
        for i, (d_in, d_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
            block = nn.Sequential(nn.Linear(d_in, d_out), make_activation(activation), nn.BatchNorm1d(d_out))
            self.add_module(f"fc{i}", block)
        self.out = nn.Linear(sizes[-1], 10)
        init_weights(self, activation)

    def forward(self, x: Tensor) -> Tensor:
        x = x.flatten(1)  # (N, 784)
        return self.out(self.fc4(self.fc3(self.fc2(self.fc1(x)))))

    def measured_layers(self) -> list[str]:
        return ["fc1", "fc2", "fc3", "fc4", "out"]


CNN_VARIANTS = {
    # variant: (conv padding, BN after each activation, side of the last feature map)
    "2019": (1, False, 7),
    "2023": (0, True, 5),
}


class SmallCNN(nn.Module):
    """Small MNIST CNN: Conv(1→4) → Conv(4→8) → MaxPool → Conv(8→16) → MaxPool → FC-256 → FC-10, 3×3 kernels.

    "2019" (the authors' script): padding 1, no BN, FC input 16·7·7 = 784. "2023" (the authors' notebook): no
    padding, BatchNorm after every activation including FC-256, FC input 16·5·5 = 400.
    Measured layers: conv1, conv2, conv3, fc1, out; the pools are separate, unmeasured modules.

    Args:
        variant: "2019" or "2023".
        activation: "relu" or "tanh".
    """

    def __init__(self, variant: str = "2023", activation: str = "relu"):
        super().__init__()
        if variant not in CNN_VARIANTS:
            raise ValueError(f"unknown SmallCNN variant {variant!r}; valid names: {sorted(CNN_VARIANTS)}")
        padding, batch_norm, side = CNN_VARIANTS[variant]

        def block(layer: nn.Module, bn: type[nn.Module], width: int) -> nn.Sequential:
            extra = [bn(width)] if batch_norm else []
            return nn.Sequential(layer, make_activation(activation), *extra)

        self.conv1 = block(nn.Conv2d(1, 4, 3, padding=padding), nn.BatchNorm2d, 4)
        self.conv2 = block(nn.Conv2d(4, 8, 3, padding=padding), nn.BatchNorm2d, 8)
        self.pool1 = nn.MaxPool2d(2)
        self.conv3 = block(nn.Conv2d(8, 16, 3, padding=padding), nn.BatchNorm2d, 16)
        self.pool2 = nn.MaxPool2d(2)
        self.fc1 = block(nn.Linear(16 * side * side, 256), nn.BatchNorm1d, 256)
        self.out = nn.Linear(256, 10)
        init_weights(self, activation)

    def forward(self, x: Tensor) -> Tensor:
        x = self.pool1(self.conv2(self.conv1(x)))
        x = self.pool2(self.conv3(x))
        return self.out(self.fc1(x.flatten(1)))

    def measured_layers(self) -> list[str]:
        return ["conv1", "conv2", "conv3", "fc1", "out"]


def _scaled(n: int, width: float) -> int:
    return max(1, round(n * width))


class VGG16(nn.Module):
    """VGG-16 with BatchNorm for 32×32 inputs (CIFAR-10).

    13 conv blocks Conv3×3(pad 1) → BN → activation named conv1..conv13, max-pools pool1..pool5 after conv2, 4, 7,
    10, 13; classifier fc1 = Dropout → Linear(512, 4096) → activation, fc2 = Dropout → Linear(4096, 4096) →
    activation, out = Linear(4096, num_classes). 16 measured layers in depth order, fc1 before fc2 (the authors'
    code lists them swapped).

    Args:
        num_classes: size of the output layer.
        width: multiplies every channel and hidden count (rounded, at least 1), e.g. 0.25 gives conv widths
            16..128 and FC 1024 for reduced-cost CPU runs; 1.0 is the paper's network.
        activation: "relu" (the paper) or "tanh".
    """

    def __init__(self, num_classes: int = 10, width: float = 1.0, activation: str = "relu"):
        super().__init__()
        if not width > 0:
            raise ValueError(f"width must be > 0, got {width!r}")
        make_activation(activation)  # fail before building anything
        self._measured: list[str] = []
        self._order: list[str] = []
        c_in, n_conv, n_pool = 3, 0, 0
        for entry in VGG16_CONFIG:
            if entry == "M":
                n_pool += 1
                self._add(f"pool{n_pool}", nn.MaxPool2d(2), measured=False)
                continue
            n_conv += 1
            c_out = _scaled(entry, width)
            block = nn.Sequential(
                nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), make_activation(activation)
            )
            self._add(f"conv{n_conv}", block)
            c_in = c_out
        hidden = _scaled(4096, width)
        self._add("fc1", nn.Sequential(nn.Dropout(), nn.Linear(c_in, hidden), make_activation(activation)))
        self._add("fc2", nn.Sequential(nn.Dropout(), nn.Linear(hidden, hidden), make_activation(activation)))
        self._add("out", nn.Linear(hidden, num_classes))
        init_weights(self, activation)

    def _add(self, name: str, module: nn.Module, measured: bool = True) -> None:
        self.add_module(name, module)
        self._order.append(name)
        if measured:
            self._measured.append(name)

    def forward(self, x: Tensor) -> Tensor:
        for name in self._order:
            if name == "fc1":
                x = x.flatten(1)  # (N, 512·width): the 32×32 input is 1×1 after five pools
            x = getattr(self, name)(x)
        return x

    def measured_layers(self) -> list[str]:
        return list(self._measured)


MODELS = {"mlp": MLP, "cnn": SmallCNN, "vgg16": VGG16}


def build_model(name: str, *, seed: int | None = None, **kwargs) -> nn.Module:
    """Build one of the paper's networks by name: "mlp", "cnn" or "vgg16"; `kwargs` go to its constructor.

    Args:
        name: "mlp", "cnn" or "vgg16".
        seed: seeds the initialization: the same seed gives identical parameters, the same as
            `torch.manual_seed(seed)` before building. The global random state is left as it was. None draws
            from the global state.

    Example:
        >>> build_model("vgg16", width=0.25).measured_layers()[-3:]
        ['fc1', 'fc2', 'out']
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid names: {sorted(MODELS)}")
    if seed is None:
        return MODELS[name](**kwargs)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative int (or None for the global random state), got {seed!r}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return MODELS[name](**kwargs)
