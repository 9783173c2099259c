"""Activation capture: forward hooks on named modules of any `nn.Module`, removed on exit.

A layer name is a module name from `model.named_modules()`, optionally followed by index suffixes that pick one
element of a tuple output: "lstm[0]" is element 0 of what module "lstm" returns (nn.LSTM's output sequence),
"lstm[1][0]" its final hidden state h_n, "attn[0]" nn.MultiheadAttention's attention output.
"""

import re
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator

from torch import Tensor, nn

_INDEX_SUFFIX = re.compile(r"((?:\[\d+\])+)$")


def split_layer_name(name: str) -> tuple[str, tuple[int, ...]]:
    """Split "lstm[1][0]" into the module name "lstm" and the element indices (1, 0); "fc1" gives ("fc1", ())."""
    match = _INDEX_SUFFIX.search(name)
    if match is None or match.start() == 0:
        return name, ()
    return name[:match.start()], tuple(int(i) for i in re.findall(r"\d+", match.group(1)))


def resolve_layers(model: nn.Module, layers: Iterable[str]) -> dict[str, nn.Module]:
    """Map layer names (from `model.named_modules()`, optionally with an index suffix such as "lstm[0]") to
    modules, keeping the given order. Indices are checked against the actual output when `capture` runs.

    Raises:
        ValueError: `layers` given as one string, empty, listing a name twice, or naming a module that `model`
            does not have (listing the valid names).
    """
    if isinstance(layers, str):
        raise ValueError(f"layers must be a list of layer names, got the string {layers!r}; pass [{layers!r}]")
    modules = dict(model.named_modules())
    layers = list(layers)
    if not layers:
        raise ValueError("layers is empty: name at least one module to measure")
    repeated = sorted({name for name in layers if layers.count(name) > 1})
    if repeated:
        raise ValueError(f"layers lists {repeated} more than once; name each layer once")
    resolved = {}
    for name in layers:
        # A module whose own name ends in "[k]" is taken as that module, not as an element of another.
        resolved[name] = modules.get(name, modules.get(split_layer_name(name)[0]))
    unknown = [name for name, module in resolved.items() if module is None]
    if unknown:
        valid = ", ".join(repr(n) for n in modules if n)
        raise ValueError(f"unknown layer(s) {unknown} in {type(model).__name__}; valid names: {valid} "
                         "(add an index suffix such as 'lstm[0]' to pick one element of a tuple output)")
    return resolved


def _pick(name: str, output, indices: tuple[int, ...]) -> Tensor:
    """The tensor that layer `name` measures: `output`, or the element of it that `indices` pick."""
    module_name = split_layer_name(name)[0] if indices else name
    picked, path = output, module_name
    for i in indices:
        if not isinstance(picked, (tuple, list)):
            raise ValueError(f"layer {name!r}: {path} is a {type(picked).__name__}, not a tuple, so it has no "
                             f"element [{i}]; measure {path!r} without that index")
        if i >= len(picked):
            raise ValueError(f"layer {name!r}: {path} is a tuple of {len(picked)} elements, so [{i}] is out of "
                             f"range; use an index from 0 to {len(picked) - 1}")
        picked, path = picked[i], f"{path}[{i}]"
    if isinstance(picked, Tensor):
        return picked
    if isinstance(picked, (tuple, list)):
        kinds = ", ".join(f"[{i}] {type(e).__name__}" for i, e in enumerate(picked))
        raise TypeError(f"layer {path!r} returned a {type(picked).__name__} ({kinds}), not a tensor; pick one "
                        f"tensor element with an index suffix, e.g. layers=[{path + '[0]'!r}]")
    raise TypeError(f"layer {name!r}: {path} is {type(picked).__name__}, not a tensor; measure a module (or an "
                    "element of its tuple output) that is a single tensor")


@contextmanager
def capture(model: nn.Module, layers: Iterable[str], fn: Callable[[str, Tensor], None]) -> Iterator[None]:
    """Call `fn(name, output)` with each named layer's output as the forward pass produces it.

    `fn` should reduce the activation at once (to a distance matrix, say), so that a deep network never
    holds every layer's activations. Every hook is removed on exit, also when the block raises.

    Each forward pass of `model` must call every layer exactly once: a module called twice (one module reused
    in the forward pass) is refused at its second call, before `fn` sees it, and a layer the forward pass never
    called is reported when the next forward pass of `model` starts or the block ends normally. A block that
    runs no forward pass checks nothing.

    Args:
        model: any module, e.g. an unmodified torchvision model.
        layers: names from `model.named_modules()`, optionally with an index suffix ("lstm[0]") that picks an
            element of a tuple output.
        fn: called as fn(layer_name, output_tensor), with the name as given (e.g. "lstm[0]").

    Raises:
        ValueError: a module called more than once in one forward pass, a layer the forward pass did not call,
            an index that the output does not have.
        TypeError: an output (or picked element) that is not a tensor, e.g. a tuple without an index suffix.

    Example:
        >>> import torch
        >>> model = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2))
        >>> sizes = {}
        >>> with capture(model, ["0", "2"], lambda name, out: sizes.update({name: tuple(out.shape)})):
        ...     logits = model(torch.zeros(5, 4))
        >>> sizes
        {'0': (5, 3), '2': (5, 2)}
    """
    modules = resolve_layers(model, layers)
    indices = {name: () if name in dict(model.named_modules()) else split_layer_name(name)[1] for name in modules}
    calls = dict.fromkeys(modules, 0)  # per forward pass of `model`
    pass_started = False
    handles = []

    def check_pass_complete():
        missing = [name for name, count in calls.items() if count == 0]
        if missing and (pass_started or len(missing) < len(calls)):
            raise ValueError(f"layer(s) {missing} of {type(model).__name__} were not called by its forward pass; "
                             "measure only modules that forward() uses (see model.named_modules())")
        calls.update(dict.fromkeys(calls, 0))

    def before_forward(module, inputs):
        nonlocal pass_started
        if pass_started:
            check_pass_complete()
        pass_started = True

    def hook_for(name):
        def hook(module, inputs, output):
            calls[name] += 1
            if calls[name] > 1:
                module_name = split_layer_name(name)[0] if indices[name] else name
                raise ValueError(f"module {module_name!r} was called {calls[name]} times in one forward pass of "
                                 f"{type(model).__name__} (one module used at several places), so layer "
                                 f"{name!r} is ambiguous; give each use its own module, or measure another one")
            fn(name, _pick(name, output, indices[name]))
        return hook

    try:
        handles.append(model.register_forward_pre_hook(before_forward))
        for name, module in modules.items():
            handles.append(module.register_forward_hook(hook_for(name)))
        yield
        check_pass_complete()
    finally:
        for handle in handles:
            handle.remove()


def activations(model: nn.Module, x: Tensor, layers: Iterable[str]) -> dict[str, Tensor]:
    """Run `model(x)` and return the named modules' outputs (detached). Holds them all: for small models."""
    out: dict[str, Tensor] = {}
    with capture(model, layers, lambda name, t: out.__setitem__(name, t.detach())):
        model(x)
    return out


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put `model` in eval mode for the block (dropout off, BatchNorm on its running statistics), then back in the
    train/eval mode it was in, also when the block raises."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)
