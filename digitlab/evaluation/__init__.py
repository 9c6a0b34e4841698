"""Metrics (scikit-learn), calibration and the embedding map of a model on a data set, and the cache keeping them."""
