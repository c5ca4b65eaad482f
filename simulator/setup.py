"""The resolved simulation setup: every choice the C program settles before its pixel loop.

A :class:`Setup` is plain numpy (float64) data. Both the PyTorch engine and the built-in
reference engine start from it; neither shares per-pixel physics code with the other.

Conventions (as in nanoBragg):
    * lengths in metres, angles in radians, wavelengths in metres;
    * reciprocal vectors ``a_star`` etc. in 1/Angstrom (nanoBragg keeps them in those units
      for the GAUSS and TOPHAT spot shapes);
    * detector pixel (fast index ``i``, slow index ``j``), subpixel ``(sub_f, sub_s)``, layer ``t``:
      ``P = pix0 + Fdet*fdet + Sdet*sdet + t*thickstep*odet`` with
      ``Fdet = subpixel*(i*oversample + sub_f) + subpixel/2`` and likewise ``Sdet``;
    * image arrays are ``[spixels, fpixels]`` (slow, fast), fast index varying fastest.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Lattice-factor shapes, as nanoBragg names them.
SHAPES = ("square", "round", "gauss", "tophat")


@dataclass(frozen=True)
class HKLGrid:
    """Dense structure-factor grid indexed by ``[h - h_min, k - k_min, l - l_min]``.

    ``F`` has shape ``[h_max-h_min+1, k_max-k_min+1, l_max-l_min+1]``; entries not listed in
    the HKL file hold ``default_F``. ``F`` is ``None`` when no HKL file was given (then every
    reflection is ``default_F``).
    """

    F: np.ndarray | None
    h_min: int = 0
    k_min: int = 0
    l_min: int = 0
    default_F: float = 0.0
    count: int = 0  # reflections read from the file

    @property
    def h_max(self) -> int:
        """Largest h in the grid."""
        return self.h_min + (self.F.shape[0] - 1 if self.F is not None else -1)

    @property
    def k_max(self) -> int:
        """Largest k in the grid."""
        return self.k_min + (self.F.shape[1] - 1 if self.F is not None else -1)

    @property
    def l_max(self) -> int:
        """Largest l in the grid."""
        return self.l_min + (self.F.shape[2] - 1 if self.F is not None else -1)


@dataclass(frozen=True)
class Setup:
    """Everything the pixel loop needs, resolved the way nanoBragg resolves it."""

    # --- detector -------------------------------------------------------------------------
    fpixels: int
    spixels: int
    pixel_size: float  # m
    oversample: int
    fdet: np.ndarray  # (3,) unit, after detector rotations and two-theta
    sdet: np.ndarray  # (3,)
    odet: np.ndarray  # (3,)
    pix0: np.ndarray  # (3,) m, sample -> corner of pixel (0, 0)
    distance: float  # m, along the beam to the detector plane
    close_distance: float  # m, pix0 . odet (used by the solid angle)
    point_pixel: bool
    thicksteps: int
    thickstep: float  # m
    detector_thick: float  # m; 0 means no absorption model (capture fraction 1)
    detector_mu: float  # 1/m
    oversample_thick: bool
    oversample_polar: bool
    oversample_omega: bool
    roi: tuple[int, int, int, int]  # xmin, xmax, ymin, ymax, inclusive (fast, slow)
    mask: np.ndarray | None  # bool [spixels, fpixels], True = render; None = all

    # --- beam and sources -----------------------------------------------------------------
    incident: np.ndarray  # (n_sources, 3) unit vectors along the travelling x-rays
    wavelengths: np.ndarray  # (n_sources,) m
    polar_vector: np.ndarray  # (3,) unit E-vector axis
    kahn_factor: float
    nopolar: bool

    # --- crystal --------------------------------------------------------------------------
    a0: np.ndarray  # (3,) m, real-space cell vectors at phi = 0, no mosaic
    b0: np.ndarray
    c0: np.ndarray
    a_star: np.ndarray  # (3,) 1/Angstrom, unrotated reciprocal vectors (GAUSS/TOPHAT)
    b_star: np.ndarray
    c_star: np.ndarray
    phi_rotations: np.ndarray  # (phisteps, 3, 3): the spindle rotation each phi step applies,
    #                            including nanoBragg's reuse of the previous orientation when
    #                            a step's angle is exactly 0 (see simulator.crystal)
    phi_angles: np.ndarray  # (phisteps,) nominal angles, rad
    mosaic_umats: np.ndarray  # (domains, 3, 3), domain 0 = identity
    Na: float
    Nb: float
    Nc: float
    shape: str  # one of SHAPES
    fudge: float
    hkl: HKLGrid
    dmin: float  # m; 0 = no cut

    # --- scale ----------------------------------------------------------------------------
    fluence: float  # photons/m^2
    r_e_sqr: float  # m^2
    water_background: float  # I_bg added to every rendered pixel before normalisation
    steps: int  # sources * domains * phisteps * oversample^2

    # --- reporting (what the C program prints) --------------------------------------------
    notes: dict[str, object] = field(default_factory=dict)

    # --- later options (defaults keep older call sites valid) -----------------------------
    interpolate: bool = False  # tricubic F_cell until the first out-of-range sample
    curved_detector: bool = False  # -curved_det: pixels on a sphere of radius `distance`
    beam: np.ndarray | None = None  # (3,) unit beam direction (needed by -curved_det)

    @property
    def n_sources(self) -> int:
        """Number of (direction, wavelength) sources."""
        return int(self.wavelengths.shape[0])

    @property
    def n_domains(self) -> int:
        """Number of mosaic domains."""
        return int(self.mosaic_umats.shape[0])

    @property
    def phisteps(self) -> int:
        """Number of phi steps."""
        return int(self.phi_rotations.shape[0])

    @property
    def shape_pixels(self) -> tuple[int, int]:
        """Image shape ``(spixels, fpixels)``."""
        return (self.spixels, self.fpixels)
