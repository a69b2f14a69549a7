"""Vamba: hybrid Mamba-Transformer for hour-long video (arXiv 2503.11579)"""
