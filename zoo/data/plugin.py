"""Built-in plugin registering datasets through ``zoo_register_datasets``."""
from zoo.hookspecs import hookimpl


@hookimpl
def zoo_register_datasets(register):
    pass
