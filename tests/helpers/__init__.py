"""Helpers the tests share: building inputs as users send them, which the product itself never needs."""
