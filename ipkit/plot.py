"""Figures of the paper, drawn from the tables that ipkit writes.

Import explicitly (``import ipkit.plot``); ``import ipkit`` never loads matplotlib.
Every function reads a long-format table and draws it; nothing here recomputes an estimate.

Tables read (see PAPER.md §4 and §6):

- IP table, one row per (run, split, step, layer): ``split, step, layer, layer_index,
  H_T, I_XT, I_TY, sigma_T, ...`` with entropies and mutual information in bits.
- Training log: ``step, loss, batch_accuracy`` and, on evaluation rows only,
  ``val_loss, val_accuracy`` (optionally ``test_loss, test_accuracy``).
- Early-stopping table: ``stop_step`` and usually ``patience`` (optionally ``run``).

Example:
    >>> import ipkit.plot as ipp
    >>> fig = ipp.information_plane_splits(table, early_stopping=stops)
    >>> ipp.save_figure(fig, "results/mlp_tanh/information_plane.png")
"""

import os
from pathlib import Path

import matplotlib
import matplotlib.ticker
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.cm import ScalarMappable
from matplotlib.colors import ListedColormap, Normalize
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

# One sequential colormap per layer, in depth order (paper §4); the tail covers VGG-16's 16 layers.
LAYER_CMAPS = ("Greys", "Purples", "Blues", "Greens", "Oranges", "Reds", "YlOrBr", "BuPu",
               "YlGn", "PuRd", "GnBu", "OrRd", "PuBu", "YlGnBu", "RdPu", "BuGn")
# The light end of a sequential map is invisible on white, so steps map into [LIGHTEST, 1].
LIGHTEST = 0.25
# (marker, area): a star needs more area than a square to look as big.
EARLY_STOP_MARKERS = (("*", 200), ("D", 70), ("s", 80), ("P", 110), ("X", 110), ("^", 90), ("v", 90))
IP_COLUMNS = ("split", "step", "layer", "layer_index")


def _require(table, columns, what="table"):
    """Raise ValueError naming the columns of ``columns`` that ``table`` lacks."""
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{what} is missing columns {missing}; it has {list(table.columns)}")


def _select_split(table, split, columns):
    """Rows of one split, after checking the columns; ValueError lists the splits present."""
    _require(table, (*IP_COLUMNS, *columns))
    rows = table[table["split"] == split]
    if rows.empty:
        raise ValueError(f"no rows with split={split!r}; splits present: "
                         f"{sorted(table['split'].dropna().unique().tolist())}")
    return rows


def _layer_order(table):
    """Layer names sorted by depth (``layer_index``)."""
    return table.groupby("layer")["layer_index"].min().sort_values().index.tolist()


def _new_axes(ax, figsize=(6.4, 4.8)):
    if ax is None:
        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def _cmap(name):
    """A sequential colormap cut to [LIGHTEST, 1] so the first steps stay visible."""
    return ListedColormap(matplotlib.colormaps[name](np.linspace(LIGHTEST, 1.0, 256)), name=name)


def _layer_cmaps(all_layers, cmaps):
    """Colormap name per layer: a mapping is used as given, a sequence is cycled in depth order."""
    if isinstance(cmaps, dict):
        return {layer: cmaps.get(layer, "Greys") for layer in all_layers}
    names = LAYER_CMAPS if cmaps is None else tuple(cmaps)
    return {layer: names[i % len(names)] for i, layer in enumerate(all_layers)}


def information_plane(table, split="train", ax=None, layers=None, cmaps=None, colorbar=True,
                      early_stopping=None, legend=True):
    """The information plane: I(X;T) against I(T;Y), one point per (layer, step).

    Points are averaged over runs (mean over rows sharing layer and step) and coloured by
    training step with one sequential colormap per layer, as in the paper's Figures (§4, §6.1).

    Args:
        table: IP table with columns ``split, step, layer, layer_index, I_XT, I_TY`` (bits).
        split: ``"train"`` or ``"test"`` rows to draw.
        ax: Axes to draw on; a new figure is made if None.
        layers: layer names to draw (default: all, in depth order).
        cmaps: colormap names cycled over layers in depth order, or a dict layer -> name
            (default: Greys, Purples, Blues, Greens, Oranges, Reds, YlOrBr, ...).
        colorbar: add a colorbar labelled "training step".
        early_stopping: table with ``stop_step`` (and ``patience``); for each patience, the point
            of every layer at the measured step nearest to the mean ``stop_step`` over runs is
            marked with a black-edged marker.
        legend: add a legend naming the layers (and early-stopping markers).

    Returns:
        The matplotlib Axes. ``ax.collections`` holds one scatter per layer (label = layer name,
        offsets in step order), then one per patience.
    """
    rows = _select_split(table, split, ("I_XT", "I_TY"))
    all_layers = _layer_order(table)
    if layers is None:
        layers = _layer_order(rows)
    unknown = [layer for layer in layers if layer not in all_layers]
    if unknown:
        raise ValueError(f"unknown layers {unknown}; layers present: {all_layers}")
    cmap_of = _layer_cmaps(all_layers, cmaps)
    # Shared over splits so that train and test panels colour a step alike.
    norm = Normalize(table["step"].min(), table["step"].max())
    means = rows.groupby(["layer", "step"])[["I_XT", "I_TY"]].mean()

    ax = _new_axes(ax)
    curves = {}
    for layer in layers:
        if layer not in means.index.get_level_values("layer"):
            continue
        curve = means.loc[layer].sort_index()
        curves[layer] = curve
        ax.scatter(curve["I_XT"].to_numpy(float), curve["I_TY"].to_numpy(float), c=curve.index.to_numpy(),
                   cmap=_cmap(cmap_of[layer]), norm=norm, s=14, edgecolors="none", label=str(layer))

    handles = [Patch(color=_cmap(cmap_of[layer])(0.6), label=str(layer)) for layer in curves]
    if early_stopping is not None:
        handles += _mark_early_stopping(ax, early_stopping, curves, cmap_of, norm)

    ax.set_xlabel("I(X;T) [bits]")
    ax.set_ylabel("I(T;Y) [bits]")
    ax.set_title(f"{split} data")
    if legend:
        ax.legend(handles=handles, loc="lower right", fontsize="small",
                  ncol=1 if len(handles) <= 8 else 2)
    if colorbar:
        mappable = ScalarMappable(norm=norm, cmap=_cmap("Greys"))
        ax.figure.colorbar(mappable, ax=ax, label="training step")
    return ax


def _mark_early_stopping(ax, early_stopping, curves, cmap_of, norm):
    """Mark each layer's point nearest to the stop step of every patience; returns legend handles."""
    _require(early_stopping, ("stop_step",), "early_stopping table")
    stops = early_stopping.dropna(subset=["stop_step"])
    if "patience" in stops.columns:
        stops = stops.groupby("patience")["stop_step"].mean()  # mean over runs
    else:
        stops = {None: stops["stop_step"].mean()} if len(stops) else {}
    handles = []
    for i, (patience, stop) in enumerate(dict(stops).items()):
        label = "early stop" if patience is None else f"early stop, patience {patience:g}"
        marker, size = EARLY_STOP_MARKERS[i % len(EARLY_STOP_MARKERS)]
        points, colours = [], []
        for layer, curve in curves.items():
            step = curve.index[np.abs(curve.index.to_numpy() - stop).argmin()]
            points.append(curve.loc[step, ["I_XT", "I_TY"]].to_numpy(dtype=float))
            colours.append(_cmap(cmap_of[layer])(norm(step)))
        if points:
            xy = np.array(points)
            ax.scatter(xy[:, 0], xy[:, 1], marker=marker, s=size, c=colours, edgecolors="black",
                       linewidths=1.0, zorder=3, label=label)
        handles.append(Line2D([], [], marker=marker, linestyle="none", markersize=np.sqrt(size),
                              markerfacecolor="white", markeredgecolor="black", label=label))
    return handles


def information_plane_splits(table, splits=("train", "test"), **kw):
    """Information planes of several splits side by side with shared axis limits (§6.1).

    Args:
        table: IP table, as for :func:`information_plane`.
        splits: splits to draw, one panel each, left to right.
        **kw: passed to :func:`information_plane` (``layers``, ``cmaps``, ``early_stopping``).

    Returns:
        The matplotlib Figure; the legend sits in the first panel, the colorbar by the last.
    """
    for split in splits:
        _select_split(table, split, ("I_XT", "I_TY"))  # fail before drawing anything
    fig, axes = plt.subplots(1, len(splits), figsize=(5.2 * len(splits) + 1, 4.6),
                             sharex=True, sharey=True, layout="constrained", squeeze=False)
    for i, (split, ax) in enumerate(zip(splits, axes[0])):
        information_plane(table, split=split, ax=ax, colorbar=i == len(splits) - 1,
                          legend=i == 0, **kw)
    return fig


def dpi_plot(table, split="train", step=None, ax=None):
    """I(X;T) and I(T;Y) against layer depth at one step, mean ± std over runs (§6.4).

    The data processing inequality asks I(X;T_1) >= I(X;T_2) >= ... along the depth.

    Args:
        table: IP table with ``split, step, layer, layer_index, I_XT, I_TY``.
        split: which split's rows to draw.
        step: training step to show; default the last step measured in ``split``.
        ax: Axes to draw on; a new figure is made if None.

    Returns:
        The matplotlib Axes; ``ax.containers`` holds the I(X;T) then the I(T;Y) error bars.
    """
    rows = _select_split(table, split, ("I_XT", "I_TY"))
    if step is None:
        step = rows["step"].max()
    at_step = rows[rows["step"] == step]
    if at_step.empty:
        raise ValueError(f"step {step} not measured for split={split!r}; "
                         f"steps run from {rows['step'].min()} to {rows['step'].max()}")
    by_layer = at_step.groupby(["layer_index", "layer"])[["I_XT", "I_TY"]]
    mean, std = by_layer.mean(), by_layer.std().fillna(0.0)  # std is NaN for a single run
    depth = mean.index.get_level_values("layer_index").to_numpy()

    ax = _new_axes(ax)
    for column, label, marker in (("I_XT", "I(X;T)", "o"), ("I_TY", "I(T;Y)", "s")):
        ax.errorbar(depth, mean[column].to_numpy(float), yerr=std[column].to_numpy(float),
                    marker=marker, capsize=3, label=label)
    names = mean.index.get_level_values("layer").astype(str)
    many = len(names) > 6
    ax.set_xticks(depth, names, rotation=45 if many else 0, ha="right" if many else "center")
    ax.set_xlabel("layer")
    ax.set_ylabel("mutual information [bits]")
    ax.set_title(f"{split} data, step {step}")
    ax.legend()
    return ax


def sigma_plot(table, split="train", ax=None):
    """Kernel width σ_T of every layer against training step, mean over runs, log scale (§3).

    Args:
        table: IP table with ``split, step, layer, layer_index, sigma_T``.
        split: which split's rows to draw.
        ax: Axes to draw on; a new figure is made if None.

    Returns:
        The matplotlib Axes, one line per layer in depth order.
    """
    rows = _select_split(table, split, ("sigma_T",))
    cmap_of = _layer_cmaps(_layer_order(table), None)
    means = rows.groupby(["layer", "step"])["sigma_T"].mean()

    ax = _new_axes(ax)
    for layer in _layer_order(rows):
        curve = means.loc[layer].sort_index()
        ax.plot(curve.index.to_numpy(), curve.to_numpy(float), color=_cmap(cmap_of[layer])(0.7),
                label=str(layer))
    ax.set_yscale("log")
    # Plain numbers (2, 3, 5) rather than 2×10^0 on the usually narrow range of widths.
    ax.yaxis.set_major_formatter(matplotlib.ticker.LogFormatter())
    ax.yaxis.set_minor_formatter(matplotlib.ticker.LogFormatter(labelOnlyBase=False))
    ax.set_xlabel("training step")
    ax.set_ylabel(r"kernel width $\sigma_T$")
    ax.set_title(f"{split} data")
    ax.legend(fontsize="small", ncol=1 if rows["layer"].nunique() <= 8 else 2)
    return ax


def training_curves(log, axes=None, window=50):
    """Loss and accuracy against step, mean over runs: smoothed batch values and evaluation points.

    Args:
        log: training log with ``step, loss, batch_accuracy`` and optionally ``val_loss,
            val_accuracy, test_loss, test_accuracy`` (NaN on rows without an evaluation).
        axes: two Axes (loss, accuracy); a new figure is made if None.
        window: rolling-mean window, in logged steps, for the batch curves.

    Returns:
        The matplotlib Figure.
    """
    _require(log, ("step", "loss", "batch_accuracy"), "training log")
    if log.empty:
        raise ValueError("training log has no rows")
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
    if len(axes) != 2:
        raise ValueError(f"axes must hold 2 Axes (loss, accuracy), got {len(axes)}")
    batch = log.groupby("step")[["loss", "batch_accuracy"]].mean().sort_index()
    smooth = batch.rolling(window, min_periods=1).mean()

    for ax, batch_column, name in zip(axes, ("loss", "batch_accuracy"), ("loss", "accuracy")):
        ax.plot(smooth.index.to_numpy(), smooth[batch_column].to_numpy(float), color="0.4",
                label="training batch (smoothed)")
        for prefix, marker in (("val", "o"), ("test", "s")):
            column = f"{prefix}_{name}"
            if column in log.columns:
                points = log.dropna(subset=[column]).groupby("step")[column].mean()
                ax.plot(points.index.to_numpy(), points.to_numpy(float), marker=marker, markersize=4,
                        label="validation" if prefix == "val" else "test")
        ax.set_xlabel("training step")
        ax.set_ylabel(name)
        ax.legend(fontsize="small")
    return axes[0].figure


def save_figure(fig, path, dpi=150):
    """Write ``fig`` as PNG at ``path``, creating folders; a temporary file is renamed into place.

    Args:
        fig: matplotlib Figure (or an Axes, whose figure is saved).
        path: destination ``.png`` path.
        dpi: resolution.

    Returns:
        The path written, as a ``pathlib.Path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = getattr(fig, "figure", fig)
    # Same folder so the rename is atomic; a plain open keeps the usual file permissions.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
