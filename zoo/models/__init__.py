"""Restoration networks: Uformer, U-Net, KinD."""
