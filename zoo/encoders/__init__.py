"""Perceptual encoders: images in [0, 1] to lists of feature maps."""
