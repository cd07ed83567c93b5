"""Losses: every one a function and an ``nn.Module`` that agree, registered in ``plugin.py``."""
