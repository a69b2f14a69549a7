"""FlowTok: flowing from text tokens to image tokens (arXiv 2503.10772)"""
