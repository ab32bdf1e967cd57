"""Fixtures shared by several test modules."""

# `folder` and `watch`: a project folder with `retrain-gate watch` running in it
pytest_plugins = ["tests.watchkit"]
