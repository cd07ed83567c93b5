"""Packaged recipes: one TOML file per recipe, registered by name (the file's stem)."""
