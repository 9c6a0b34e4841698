"""Architectures, augmentation, the trainer process, jobs, starting weights, ensembles."""
