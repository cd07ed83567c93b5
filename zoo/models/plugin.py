"""Built-in plugin registering restoration networks through ``zoo_register_models``."""
from zoo.hookspecs import hookimpl


@hookimpl
def zoo_register_models(register):
    pass
