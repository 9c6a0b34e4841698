"""Benchmarks: the top layer, imported by nothing but the CLI; never imports ui/."""
