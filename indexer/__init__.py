"""Corpus readers, the build pipeline and the full-text stores."""
