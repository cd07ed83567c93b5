"""Built-in plugin registering the loss zoo through ``zoo_register_losses``."""
from zoo.hookspecs import hookimpl


@hookimpl
def zoo_register_losses(register):
    pass
