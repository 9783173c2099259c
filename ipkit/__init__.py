"""ipkit: information-plane analysis of deep networks with matrix-based Rényi entropy and tensor kernels.

Reproduces Wickstrøm et al., "Analysis of Deep Convolutional Neural Networks Using Tensor Kernels and
Matrix-Based Entropy", Entropy 25(6):899, 2023 [1]. The method and its references: docs/method.md.
Plotting lives in `ipkit.plot` (imported explicitly).
"""

from ipkit.entropy import (
    joint_entropy,
    joint_entropy_with_labels,
    label_entropy,
    mutual_information,
    normalize_gram,
    renyi_entropy,
)
from ipkit.kernels import (
    channel_sq_dists,
    gaussian_from_sq_dists,
    gaussian_gram,
    kernel_alignment,
    label_gram,
    multivariate_gram,
    pairwise_sq_dists,
)
from ipkit.widths import (
    KernelWidths,
    alignment_grid,
    alignment_scores,
    alignment_sigma,
    alignment_sigmas,
    knn_sigma,
    mean_distance,
    silverman_sigma,
)
from ipkit.hooks import activations, capture, resolve_layers
from ipkit.plane import information_plane
from ipkit.protocol import PROTOCOLS, Estimation, estimation
from ipkit.tracker import DegenerateMeasurement, InformationPlaneTracker
from ipkit import train  # cheap to import (plotting stays in ipkit.plot)

__version__ = "0.1.0"
