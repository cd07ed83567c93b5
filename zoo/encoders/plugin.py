"""Built-in plugin registering perceptual encoders through ``zoo_register_encoders``."""
from zoo.hookspecs import hookimpl


@hookimpl
def zoo_register_encoders(register):
    pass
