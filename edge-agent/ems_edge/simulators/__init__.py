"""Simulated meters and data centres for tests and the one-machine demo."""
