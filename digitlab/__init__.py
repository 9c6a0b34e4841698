"""DigitLab: draw a digit, see what a neural network thinks, retrain it and see where it fails.

Importing the package is cheap: TensorFlow is imported only by the modules that need it.
"""

__version__ = "0.1.0"
