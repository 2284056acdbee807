"""Composition agents (placeholder while being written)."""
