"""Physical constants and nanoBragg's defaults (SI units)."""

R_E_SQR = 7.94079248018965e-30  # Thomson cross-section r_e^2, m^2
AVOGADRO = 6.02214179e23  # 1/mol
DEFAULT_FLUENCE = 125932015286227086360700780544.0  # photons/m^2
WATER_F = 2.57  # forward-scattering structure factor of water, electrons
WATER_MW = 18.0  # g/mol
WATER_DENSITY = 1.0e6  # g/m^3 (the 1e6 in nanoBragg's background formula)
ENERGY_TO_WAVELENGTH = 12398.42  # eV·Å
DEFAULT_MOSAIC_SEED = 12345678
