"""Activation capture: forward hooks on named modules of any `nn.Module`, removed on exit."""

from contextlib import contextmanager
from typing import Callable, Iterable, Iterator

from torch import Tensor, nn


def resolve_layers(model: nn.Module, layers: Iterable[str]) -> dict[str, nn.Module]:
    """Map layer names (from `model.named_modules()`) to modules, keeping the given order.

    Raises:
        ValueError: a name that is not a module of `model`, listing the valid names.
    """
    modules = dict(model.named_modules())
    layers = list(layers)
    if not layers:
        raise ValueError("layers is empty: name at least one module to measure")
    unknown = [name for name in layers if name not in modules]
    if unknown:
        valid = ", ".join(repr(n) for n in modules if n)
        raise ValueError(f"unknown layer(s) {unknown} in {type(model).__name__}; valid names: {valid}")
    return {name: modules[name] for name in layers}


@contextmanager
def capture(model: nn.Module, layers: Iterable[str], fn: Callable[[str, Tensor], None]) -> Iterator[None]:
    """Call `fn(name, output)` with each named module's output as the forward pass produces it.

    `fn` should reduce the activation at once (to a distance matrix, say), so that a deep network never
    holds every layer's activations. Every hook is removed on exit, also when the block raises.

    Args:
        model: any module, e.g. an unmodified torchvision model.
        layers: names from `model.named_modules()`.
        fn: called as fn(layer_name, output_tensor).

    Example:
        >>> sizes = {}
        >>> with capture(model, ["fc1"], lambda name, out: sizes.update({name: out.shape})):
        ...     model(x)
    """
    modules = resolve_layers(model, layers)
    handles = []

    def hook_for(name):
        def hook(module, inputs, output):
            if not isinstance(output, Tensor):
                raise TypeError(f"layer {name!r} returned {type(output).__name__}, not a tensor; "
                                "measure a module whose output is a single tensor")
            fn(name, output)
        return hook

    try:
        for name, module in modules.items():
            handles.append(module.register_forward_hook(hook_for(name)))
        yield
    finally:
        for handle in handles:
            handle.remove()


def activations(model: nn.Module, x: Tensor, layers: Iterable[str]) -> dict[str, Tensor]:
    """Run `model(x)` and return the named modules' outputs (detached). Holds them all: for small models."""
    out: dict[str, Tensor] = {}
    with capture(model, layers, lambda name, t: out.__setitem__(name, t.detach())):
        model(x)
    return out
