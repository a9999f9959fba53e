"""Model families, one file each: DyMN teachers, CP-Mobile students (and the DCASE2024 baseline),
hierarchical heads, and a registry of the paper's named configurations.

Import the families directly (``from asclab.models.dymn import DyMN``); this package stays light.
"""
