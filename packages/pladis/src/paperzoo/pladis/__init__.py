"""PLADIS: sparse cross-attention extrapolation at inference (arXiv 2503.07677)"""
