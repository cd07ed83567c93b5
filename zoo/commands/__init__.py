"""Built-in CLI commands beyond list/info/plugins; each module exposes ``command``."""
