"""warmline: greet the caller at once, clone their voice in the background, hand over when ready."""

__version__ = "0.1.0"  # the one version: pyproject.toml, `warmline --version`, GET /api/metrics/cloning
