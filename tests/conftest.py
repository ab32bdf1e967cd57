"""Fixtures shared by several test modules."""
