"""The embedded demo: SmolLM2 from PyPI, generated data, learn, compare, report."""
