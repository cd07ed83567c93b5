"""Built-in plugin registering the encoder-based losses (perceptual, lpips, triplet)."""
from zoo.hookspecs import hookimpl


@hookimpl
def zoo_register_losses(register):
    pass
