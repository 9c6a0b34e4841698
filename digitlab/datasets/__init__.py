"""MNIST, pen digits (pendigits, UNIPEN), pen numbers, non-digits and the training mix."""
