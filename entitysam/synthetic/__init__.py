"""Synthetic data the project generates itself (no dataset can be downloaded here)."""
