"""Figures of the paper, drawn from the tables that ipkit writes.

Import explicitly (``import ipkit.plot``); ``import ipkit`` never loads matplotlib.
Every function reads a long-format table and draws it; nothing here recomputes an estimate.

Tables read (see docs/method.md §4 and §6):

- IP table, one row per (run, split, step, layer): ``split, step, layer, layer_index,
  H_T, I_XT, I_TY, sigma_T, ...`` with entropies and mutual information in bits.
- Training log: ``step, loss, batch_accuracy`` and, on evaluation rows only,
  ``val_loss, val_accuracy`` (optionally ``test_loss, test_accuracy``).
- Early-stopping table: ``stop_step`` and usually ``patience`` (optionally ``run``).
- Phase table (:func:`ipkit.analysis.phase_table`), one row per layer: ``layer, layer_index, peak_step,
  peak_step_test, compression_train, compression_test, compresses, stop_p<p>, before_p<p>,
  largest_patience_before``.

Bands over runs (mean and ± 2 standard errors) are drawn with seaborn.lineplot.

Example (a hand-made IP table of two layers at two steps; real ones come from the tracker):
    >>> import tempfile
    >>> import pandas as pd
    >>> import ipkit.plot as ipp
    >>> table = pd.DataFrame({"split": "train", "step": [1, 1, 2, 2], "layer": ["fc1", "out"] * 2,
    ...                       "layer_index": [0, 1] * 2, "I_XT": [6.0, 3.1, 5.8, 2.9], "I_TY": [1.2, 1.0, 2.0, 2.2]})
    >>> fig = ipp.information_plane_splits(table, splits=("train",))
    >>> ipp.save_figure(fig, Path(tempfile.mkdtemp()) / "information_plane.png").name
    'information_plane.png'
"""

import os
from pathlib import Path

import matplotlib
import matplotlib.ticker
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.cm import ScalarMappable
from matplotlib.colors import ListedColormap, Normalize
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

# One sequential colormap per layer, in depth order (paper §4); the tail covers VGG-16's 16 layers.
LAYER_CMAPS = ("Greys", "Purples", "Blues", "Greens", "Oranges", "Reds", "YlOrBr", "BuPu",
               "YlGn", "PuRd", "GnBu", "OrRd", "PuBu", "YlGnBu", "RdPu", "BuGn")
# The light end of a sequential map is invisible on white, so steps map into [LIGHTEST, 1].
LIGHTEST = 0.25
# (marker, area): a star needs more area than a square to look as big.
EARLY_STOP_MARKERS = (("*", 200), ("D", 70), ("s", 80), ("P", 110), ("X", 110), ("^", 90), ("v", 90),
                      ("o", 80), ("p", 110), ("h", 110), ("<", 90), (">", 90), ("8", 90), ("d", 90))
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
    ax = _new_axes(ax)
    _, handles, norm = _draw_plane(ax, table, split, layers, cmaps, early_stopping)
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


def _draw_plane(ax, table, split, layers, cmaps, early_stopping, norm=None):
    """Scatter the run-mean IP points of `layers` (and the early-stopping marks) on `ax`.

    Returns:
        (curves, handles, norm): per layer its run-mean curve (index step, columns I_XT, I_TY), the
        legend handles (layers, then patiences) and the step -> colour normalisation.
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
    norm = Normalize(table["step"].min(), table["step"].max()) if norm is None else norm
    means = rows.groupby(["layer", "step"])[["I_XT", "I_TY"]].mean()

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
    return curves, handles, norm


def _mark_early_stopping(ax, early_stopping, curves, cmap_of, norm):
    """Mark each layer's point nearest to the stop step of every patience; returns legend handles.

    The stop step of a patience is its mean over the runs that stopped; a patience with which no run
    stops gets a legend entry saying so and no mark. Markers follow the patiences in sorted order.
    """
    _require(early_stopping, ("stop_step",), "early_stopping table")
    stop_step = pd.to_numeric(early_stopping["stop_step"], errors="coerce").astype(float)
    if "patience" in early_stopping.columns:
        stops = stop_step.groupby(early_stopping["patience"]).mean()  # NaN: no run stopped
    else:
        stops = {None: stop_step.mean()} if len(stop_step) else {}
    handles = []
    for i, (patience, stop) in enumerate(dict(stops).items()):
        label = "early stop" if patience is None else f"early stop, patience {patience:g}"
        marker, size = EARLY_STOP_MARKERS[i % len(EARLY_STOP_MARKERS)]
        if np.isnan(stop):
            handles.append(Line2D([], [], marker=marker, linestyle="none", markersize=np.sqrt(size),
                                  markerfacecolor="none", markeredgecolor="0.6", label=f"{label}: never stops"))
            continue
        points, colours = [], []
        for layer, curve in curves.items():
            step = curve.index[np.abs(curve.index.to_numpy() - stop).argmin()]
            points.append(curve.loc[step, ["I_XT", "I_TY"]].to_numpy(dtype=float))
            colours.append(_cmap(cmap_of[layer])(norm(step)))
        if points:
            xy = np.array(points)
            ax.scatter(xy[:, 0], xy[:, 1], marker=marker, s=size, c=colours, edgecolors="black",
                       linewidths=1.0, zorder=4, label=label)
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


def sigma_plot(table, split="train", ax=None, errorbar=("se", 2)):
    """Kernel width σ_T of every layer against training step, log scale (§3): mean and band over runs.

    Args:
        table: IP table with ``split, step, layer, layer_index, sigma_T``.
        split: which split's rows to draw.
        ax: Axes to draw on; a new figure is made if None.
        errorbar: the band over runs, as seaborn.lineplot takes it (see :func:`information_over_steps`).

    Returns:
        The matplotlib Axes, one line per layer in depth order (its band in ``ax.collections``).
    """
    rows = _select_split(table, split, ("sigma_T",))
    ax = _new_axes(ax)
    _lines_over_steps(ax, rows, "sigma_T", _layer_order(rows), _layer_cmaps(_layer_order(table), None), errorbar)
    ax.set_yscale("log")
    # Plain numbers (2, 3, 5) rather than 2×10^0 on the usually narrow range of widths.
    ax.yaxis.set_major_formatter(matplotlib.ticker.LogFormatter())
    ax.yaxis.set_minor_formatter(matplotlib.ticker.LogFormatter(labelOnlyBase=False))
    ax.set_xlabel("training step")
    ax.set_ylabel(r"kernel width $\sigma_T$")
    ax.set_title(f"{split} data")
    ax.legend(fontsize="small", ncol=1 if rows["layer"].nunique() <= 8 else 2)
    return ax


def sigma_panels(panels, split="train"):
    """Kernel widths over training (:func:`sigma_plot`) side by side, one panel per (title, IP table), e.g. one
    per width rule; the panels share their y axis and the first one holds the legend.

    Args:
        panels: list of (title, IP table) pairs, left to right.
        split: which split's rows to draw.

    Returns:
        The matplotlib Figure, one Axes per panel.
    """
    if not panels:
        raise ValueError("panels is empty: pass a list of (title, IP table) pairs")
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.4), layout="constrained", squeeze=False)
    for ax, (title, table) in zip(axes[0], panels):
        sigma_plot(table, split=split, ax=ax)
        ax.set_title(title, fontsize="medium")
        ax.get_legend().set_visible(ax is axes[0, 0])
    # Shared only now: seaborn averages in the axis' scale, so a log axis shared while drawing would make the
    # mean over runs a geometric one.
    for ax in axes[0, 1:]:
        ax.sharey(axes[0, 0])
        ax.tick_params(axis="y", which="both", labelleft=False)
        ax.set_ylabel("")
    axes[0, 0].autoscale_view(scalex=False)
    return fig


def _lines_over_steps(ax, rows, column, layers, cmap_of, errorbar):
    """One seaborn line per layer: the mean of `column` over the rows (runs) at each step, and its band."""
    for layer in layers:
        # seed: a bootstrap band ("ci") is then the same on every redraw.
        sns.lineplot(data=rows[rows["layer"] == layer], x="step", y=column, estimator="mean", errorbar=errorbar,
                     seed=0, color=_cmap(cmap_of[layer])(0.7), label=str(layer), ax=ax,
                     err_kws=dict(alpha=0.25, linewidth=0))


def information_over_steps(table, column="I_XT", split="train", ax=None, layers=None, errorbar=("se", 2),
                           log_step=False):
    """One information quantity of every layer against training step: mean over runs with a band (§6.1).

    Drawn with seaborn.lineplot: the line is the mean over the runs at each measured step, the band the
    spread of that mean given by `errorbar`. The default, mean ± 2 standard errors over runs, is about a
    95 % confidence interval for many runs (narrower than Student's t-interval for 5–10 runs); seaborn's
    bootstrap ``("ci", 95)`` is also accepted but takes minutes on thousands of steps. With one run there
    is no band. For I(X;T) the ceiling H(X) of the measured samples (mean over runs) is drawn dotted.

    Args:
        table: IP table with ``split, step, layer, layer_index`` and `column` (and ``H_X`` for the ceiling).
        column: ``"I_XT"``, ``"I_TY"``, ``"H_T"`` or ``"sigma_T"``.
        split: which split's rows to draw.
        ax: Axes to draw on; a new figure is made if None.
        layers: layer names to draw (default: all, in depth order).
        errorbar: the band, as seaborn.lineplot's ``errorbar`` (None: no band).
        log_step: logarithmic step axis, so that a short fitting phase is visible.

    Returns:
        The matplotlib Axes: ``ax.lines`` holds one line per layer (label = layer name) and, for I(X;T)
        with ``H_X`` in the table, a last dotted line labelled "H(X)"; ``ax.collections`` the bands.
    """
    labels = {"I_XT": "I(X;T) [bits]", "I_TY": "I(T;Y) [bits]", "H_T": "H(T) [bits]",
              "sigma_T": r"kernel width $\sigma_T$"}
    if column not in labels:
        raise ValueError(f"column must be one of {sorted(labels)}, got {column!r}")
    rows = _select_split(table, split, (column,))
    all_layers = _layer_order(table)
    layers = _layer_order(rows) if layers is None else list(layers)
    unknown = [layer for layer in layers if layer not in all_layers]
    if unknown:
        raise ValueError(f"unknown layers {unknown}; layers present: {all_layers}")
    ax = _new_axes(ax)
    _lines_over_steps(ax, rows, column, layers, _layer_cmaps(all_layers, None), errorbar)
    if column == "I_XT" and "H_X" in rows.columns:
        h_x = rows.groupby("step")["H_X"].mean()  # equal over the layers of one measurement
        ax.plot(h_x.index.to_numpy(), h_x.to_numpy(float), color="0.45", ls=":", lw=1.2, label="H(X)")
    if log_step:
        ax.set_xscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel(labels[column])
    ax.set_title(f"{split} data")
    ax.legend(fontsize="small", ncol=1 if len(layers) <= 8 else 2)
    return ax


def figure1(ip, early_stopping, phases, split="train", inset_layers=4, ax=None, window=5):
    """The paper's Figure 1: the information plane, its two phases and where early stopping stops (§6.2).

    The run-mean IP of every layer, one point per (layer, step) coloured by step with one colormap per
    layer (as :func:`information_plane`); a solid black line through each layer's points up to its phase
    boundary (the fitting phase) and a dotted one from there on (the compression phase); the points where
    early stopping would stop, one marker per patience; and an inset magnifying the first `inset_layers`
    layers. A layer that does not compress (``compresses`` false) has no compression phase: its whole
    path is solid. The black lines follow the run-mean path smoothed by a centred rolling mean over
    `window` measurements, the curve on which :func:`ipkit.analysis.phase_table` finds the boundary,
    so that they show the trend through the noisy points (``window=1``: through the points).

    Args:
        ip: IP table (``split, step, layer, layer_index, I_XT, I_TY`` in bits), any number of runs.
        early_stopping: table with ``patience, stop_step`` (a row per run and patience, NA = never stops).
        phases: the table of :func:`ipkit.analysis.phase_table` for `ip`: a row per layer with ``layer``,
            ``peak_step`` (training data), ``peak_step_test`` and ``compresses``.
        split: the stream to draw; its phase boundary is ``peak_step`` ("train") or ``peak_step_test``.
        inset_layers: how many of the first layers (depth order) the inset magnifies; 0: no inset.
        ax: Axes to draw on; a new figure is made if None.
        window: measurements in the rolling mean of the phase lines (phase_table's `window`).

    Returns:
        The main Axes. ``ax.lines`` holds, per layer, a solid line labelled ``"<layer>: fitting"`` and for
        a layer that compresses a dotted one labelled ``"<layer>: compression"``; ``ax.child_axes[0]`` is
        the inset, drawn the same way: inside the plane where the first layers' region is small, else
        beside it on the right (outside `ax`; a saved figure includes it). The colorbar stands right of both.
    """
    peak_column = "peak_step" if split == "train" else "peak_step_test"
    _require(phases, ("layer", peak_column, "compresses"), "phases table")
    created = ax is None
    ax = _new_axes(ax, figsize=(8.0, 6.4))
    curves, handles, norm = _draw_plane(ax, ip, split, None, None, early_stopping)
    boundary = phases.drop_duplicates("layer").set_index("layer")
    missing = [layer for layer in curves if layer not in boundary.index]
    if missing:
        raise ValueError(f"phases table has no row for layers {missing}; pass the phase_table of this IP table")
    _draw_phases(ax, curves, boundary, peak_column, window, lw=0.8)
    handles += [Line2D([], [], color="black", ls=style, label=f"{phase} phase") for phase, style in PHASE_STYLES]

    ax.set_xlabel("I(X;T) [bits]")
    ax.set_ylabel("I(T;Y) [bits]")
    ax.set_title(f"{split} data")
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.12), fontsize="small",
              ncol=3, frameon=False)
    first, beside = list(curves)[:inset_layers], False
    if 0 < inset_layers < len(curves):
        bounds = _inset_bounds(ax, curves, first)
        beside = bounds[0] > 1
        if beside and created:
            ax.figure.set_size_inches(11.5, 6.4)  # room for the magnified view at the plane's height
        inset = ax.inset_axes(bounds)
        _draw_plane(inset, ip, split, first, None, early_stopping)
        _draw_phases(inset, {layer: curves[layer] for layer in first}, boundary, peak_column, window, lw=0.7)
        xy = np.concatenate([curves[layer][["I_XT", "I_TY"]].to_numpy(float) for layer in first])
        low, high = xy.min(axis=0), xy.max(axis=0)
        pad = 0.06 * np.maximum(high - low, 1e-3)
        inset.set_xlim(low[0] - pad[0], high[0] + pad[0])
        inset.set_ylim(low[1] - pad[1], high[1] + pad[1])
        inset.tick_params(labelsize="small" if beside else "x-small")
        inset.set_title(f"first {len(first)} layers", fontsize="small")
        ax.indicate_inset_zoom(inset, edgecolor="0.3")
    # Right of the inset where it stands beside the plane, else right of the plane.
    cax = (ax.child_axes[0] if ax.child_axes and beside else ax).inset_axes([1.04, 0.0, 0.035, 1.0])
    ax.figure.colorbar(ScalarMappable(norm=norm, cmap=_cmap("Greys")), cax=cax, label="training step")
    return ax


# Figure 1's phase lines: (phase, line style).
PHASE_STYLES = (("fitting", "-"), ("compression", ":"))


def _draw_phases(ax, curves, boundary, peak_column, window, lw):
    """Black lines along each layer's smoothed run-mean path: solid up to its peak step, dotted after."""
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ValueError(f"window must be a whole number of measurements ≥ 1, got {window!r}")
    for layer, curve in curves.items():
        steps = curve.index.to_numpy()
        smooth = curve[["I_XT", "I_TY"]].rolling(window, center=True, min_periods=1).mean()
        x, y = smooth["I_XT"].to_numpy(float), smooth["I_TY"].to_numpy(float)
        compresses = boundary.loc[layer, "compresses"]
        compresses = bool(compresses) if pd.notna(compresses) else False
        peak = boundary.loc[layer, peak_column]
        fitting = steps <= peak if compresses else np.ones(len(steps), dtype=bool)
        ax.plot(x[fitting], y[fitting], color="black", ls="-", lw=lw, label=f"{layer}: fitting")
        if compresses:
            after = steps >= peak  # shares the peak point, so the path is unbroken
            ax.plot(x[after], y[after], color="black", ls=":", lw=lw, label=f"{layer}: compression")


def _inset_bounds(ax, curves, first, size=0.42, margin=0.03, zoom=1.5):
    """Inset bounds (axes fraction): in the corner of `ax` that covers the fewest IP points if the first
    layers' region is small enough there to be magnified `zoom` times, else beside `ax` on its right."""
    ax.autoscale_view()
    region = np.concatenate([curves[layer][["I_XT", "I_TY"]].to_numpy(float) for layer in first])
    region = ax.transAxes.inverted().transform(ax.transData.transform(region))
    if np.ptp(region, axis=0).max() * zoom > size:
        return [1.08, 0.0, 0.85, 1.0]
    xy = np.concatenate([curve[["I_XT", "I_TY"]].to_numpy(float) for curve in curves.values()])
    frac = ax.transAxes.inverted().transform(ax.transData.transform(xy))
    low, high = margin, 1 - margin - size
    corners = [(high, low), (low, high), (low, low), (high, high)]  # lower right first
    covered = [np.sum((frac[:, 0] >= x0 - margin) & (frac[:, 0] <= x0 + size + margin)
                      & (frac[:, 1] >= y0 - margin) & (frac[:, 1] <= y0 + size + margin)) for x0, y0 in corners]
    x0, y0 = corners[int(np.argmin(covered))]
    return [x0, y0, size, size]


def _patiences(phases):
    """The patiences of a phase table, from its ``before_p<p>`` columns, in increasing order (as strings)."""
    found = [c[len("before_p"):] for c in phases.columns if c.startswith("before_p")]
    return sorted(found, key=float)


def patience_before_compression(tables):
    """Which patiences stop training before each compressing layer's compression begins (§6.2).

    One heat map per network, stacked: a row per layer that compresses (labelled with its phase boundary,
    the peak step on training data), a column per patience (steps); a cell is dark where early stopping
    with that patience stops before the layer's peak step (``before_p<p>`` true) and light where it
    stops later or never. Each cell shows the stop step (mean over runs; "never"); the largest patience
    that still stops before (``largest_patience_before``) is outlined.

    Args:
        tables: mapping network name -> phase table (:func:`ipkit.analysis.phase_table`) with columns
            ``layer, layer_index, peak_step, compresses, largest_patience_before`` and ``stop_p<p>,
            before_p<p>`` for every patience p.

    Returns:
        The matplotlib Figure, one Axes per network in mapping order (titled with its name); a heat map's
        ``ax.collections[0].get_array()`` holds 1 (before) / 0 (not), row by row in depth order.
    """
    if not tables:
        raise ValueError("tables is empty: pass a mapping network name -> phase_table")
    shown = {}
    for name, phases in tables.items():
        patiences = _patiences(phases)
        if not patiences:
            raise ValueError(f"phase table of {name!r} has no before_p<patience> columns; it has "
                             f"{list(phases.columns)}")
        _require(phases, ("layer", "layer_index", "peak_step", "compresses", "largest_patience_before",
                          *(f"stop_p{p}" for p in patiences)), f"phase table of {name!r}")
        compresses = phases["compresses"].astype("boolean").fillna(False).astype(bool)
        shown[name] = (phases[compresses].sort_values("layer_index"), patiences)
    width = 2.0 + 0.62 * max(len(p) for _, p in shown.values())
    heights = [0.9 + 0.42 * max(len(rows), 1) for rows, _ in shown.values()]
    fig, axes = plt.subplots(len(shown), 1, figsize=(width, sum(heights) + 0.6), height_ratios=heights,
                             layout="constrained", squeeze=False)
    for ax, (name, (rows, patiences)) in zip(axes[:, 0], shown.items()):
        ax.set_title(name, fontsize="medium")
        if rows.empty:
            ax.text(0.5, 0.5, "no layer compresses", ha="center", va="center", transform=ax.transAxes)
            ax.set_xticks([])
            ax.set_yticks([])
            continue
        before = rows[[f"before_p{p}" for p in patiences]].astype("boolean").astype(float).to_numpy()
        stops = rows[[f"stop_p{p}" for p in patiences]].apply(pd.to_numeric, errors="coerce")
        annot = stops.map(lambda s: "never" if pd.isna(s) else f"{s:.0f}").to_numpy()
        sns.heatmap(before, ax=ax, cmap=ListedColormap([NOT_BEFORE_COLOUR, BEFORE_COLOUR]), vmin=0, vmax=1,
                    cbar=False, annot=annot, fmt="", annot_kws=dict(fontsize=7), linewidths=1, linecolor="white",
                    xticklabels=patiences, square=False,
                    yticklabels=[f"{r.layer} (peak {r.peak_step:g})" for r in rows.itertuples()])
        ax.tick_params(axis="y", rotation=0)
        for i, largest in enumerate(pd.to_numeric(rows["largest_patience_before"], errors="coerce")):
            if pd.notna(largest):
                j = [float(p) for p in patiences].index(float(largest))
                ax.add_patch(Rectangle((j, i), 1, 1, fill=False, edgecolor="black", linewidth=2))
    fig.legend(handles=[Patch(color=BEFORE_COLOUR, label="stops before compression begins"),
                        Patch(color=NOT_BEFORE_COLOUR, label="stops after it began, or never"),
                        Patch(facecolor="none", edgecolor="black", linewidth=2,
                              label="largest patience stopping before")],
               loc="outside lower center", ncol=3 if width > 7 else 1, fontsize="small", frameon=False)
    axes[-1, 0].set_xlabel("patience [steps]")
    return fig


BEFORE_COLOUR, NOT_BEFORE_COLOUR = "#3b7dbf", "#e6e6e6"


def compression_bars(tables, threshold=None):
    """Compression of I(X;T) per layer on training and on test data, one panel per network (§6.1).

    Args:
        tables: mapping network name -> phase table with ``layer, layer_index, compression_train,
            compression_test`` (bits; peak − final of the smoothed run-mean I(X;T)).
        threshold: the amount (bits) above which a layer counts as compressing, drawn dotted; None: none.

    Returns:
        The matplotlib Figure; each panel's ``containers`` holds the train then the test bars.
    """
    if not tables:
        raise ValueError("tables is empty: pass a mapping network name -> phase_table")
    for name, phases in tables.items():
        _require(phases, ("layer", "layer_index", "compression_train", "compression_test"), f"phase table of {name!r}")
    fig, axes = plt.subplots(1, len(tables), figsize=(4.2 * len(tables), 3.8), sharey=True, layout="constrained",
                             squeeze=False)
    for ax, (name, phases) in zip(axes[0], tables.items()):
        rows = phases.sort_values("layer_index")
        x = np.arange(len(rows))
        ax.bar(x - 0.2, rows["compression_train"].to_numpy(float), width=0.4, label="train", color="tab:blue")
        ax.bar(x + 0.2, rows["compression_test"].to_numpy(float), width=0.4, label="test", color="tab:orange")
        if threshold is not None:
            ax.axhline(threshold, color="0.4", ls=":", lw=1, label=f"threshold {threshold:g} bits")
        ax.set_xticks(x, rows["layer"].astype(str))
        ax.set_title(name)
    axes[0, 0].set_ylabel("compression of I(X;T) [bits]")
    axes[0, 0].legend(fontsize="small")
    return fig


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


def experiment_figures(results, folder, splits=("train", "test")):
    """The figures of one experiment (notebooks 01–03) written into `folder`, from its tables alone.

    information_plane.png (the IP per split, early-stopping points marked), i_xt_over_steps.png (I(X;T) of every
    layer against step per split, mean and band over runs, H(X) dotted), dpi.png (the data processing inequality
    at the last step), sigma.png (the widths over training, first split), training_curves.png and
    information_plane.gif (the IP of the first split through training, `animate_information_plane`).

    Args:
        results: an `ipkit.experiment.Results`.
        folder: where the PNG files go.
        splits: the splits measured.

    Returns:
        dict figure name -> path written.
    """
    ip, folder, paths = results.ip, Path(folder), {}
    paths["information_plane"] = save_figure(
        information_plane_splits(ip, splits=splits, early_stopping=results.early_stopping),
        folder / "information_plane.png")
    fig, axes = plt.subplots(1, len(splits), figsize=(6.4 * len(splits), 4.6), squeeze=False, sharey=True,
                             layout="constrained")
    for ax, split in zip(axes[0], splits):
        information_over_steps(ip, "I_XT", split=split, ax=ax, log_step=True)
    paths["i_xt_over_steps"] = save_figure(fig, folder / "i_xt_over_steps.png")
    paths["dpi"] = save_figure(dpi_plot(ip, split=splits[0]), folder / "dpi.png")
    paths["sigma"] = save_figure(sigma_plot(ip, split=splits[0]), folder / "sigma.png")
    paths["training_curves"] = save_figure(training_curves(results.log), folder / "training_curves.png")
    paths["information_plane_animation"] = animate_information_plane(ip, folder / "information_plane.gif",
                                                                     split=splits[0])
    return paths


def animate_information_plane(table, path, split="train", frames=20, fps=5, dpi=80):
    """The information plane through training as an animated GIF: frame k shows every layer's run-mean points
    up to the k-th of `frames` equal ranges of the measured steps (colours as in `information_plane`).

    Written with matplotlib's PillowWriter (Pillow comes with matplotlib); the axes keep the final limits, so
    points only appear, they never jump.

    Args:
        table: IP table (columns as for `information_plane`).
        path: the ``.gif`` to write.
        split: which split's rows to draw.
        frames: number of frames (at most the number of measured steps).
        fps: frames per second.
        dpi: resolution of the frames.

    Returns:
        The path written, as a ``pathlib.Path``.
    """
    from matplotlib.animation import PillowWriter

    rows = _select_split(table, split, ("I_XT", "I_TY"))
    if not isinstance(frames, int) or frames < 1:
        raise ValueError(f"frames must be an integer ≥ 1, got {frames!r}")
    steps = np.sort(rows["step"].unique())
    edges = steps[np.linspace(0, len(steps) - 1, min(frames, len(steps))).round().astype(int)]
    fig, ax = plt.subplots(figsize=(6.4, 4.8), layout="constrained")
    information_plane(rows, split=split, ax=ax)  # the final frame fixes limits, legend and colorbar
    xlim, ylim = ax.get_xlim(), ax.get_ylim()
    norm = Normalize(rows["step"].min(), rows["step"].max())  # the colorbar's, for every frame
    fig.canvas.draw()
    fig.set_layout_engine("none")  # laid out once: every frame has the same axes (half the time otherwise)

    def draw(last_step):
        for collection in list(ax.collections):
            collection.remove()
        _draw_plane(ax, rows[rows["step"] <= last_step], split, None, None, None, norm)
        ax.set_xlim(xlim)
        ax.set_ylim(ylim)
        ax.set_title(f"{split} data, steps ≤ {int(last_step)}")

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.gif")
    writer = PillowWriter(fps=fps)
    with writer.saving(fig, tmp, dpi):
        for last_step in edges:
            draw(last_step)
            writer.grab_frame()  # one draw per frame
    plt.close(fig)
    os.replace(tmp, path)
    return path
