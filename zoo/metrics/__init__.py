"""Image-quality metrics with a known direction (higher or lower is better)."""
