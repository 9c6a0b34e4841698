"""Settings, secrets and access: read once, fail closed. Imports nothing else of DigitLab."""
