"""VGGT: Visual Geometry Grounded Transformer (arXiv 2503.11651)"""
