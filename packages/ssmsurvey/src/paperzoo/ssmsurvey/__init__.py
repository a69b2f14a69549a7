"""A survey of state space models, as runnable comparisons (arXiv 2503.11224)"""
