"""The run folder and the model registry: the only owners of their files, written atomically."""
