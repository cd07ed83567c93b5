"""Built-in plugin registering metrics through ``zoo_register_metrics``."""
from zoo.hookspecs import hookimpl


@hookimpl
def zoo_register_metrics(register):
    pass
