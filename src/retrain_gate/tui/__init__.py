"""The Textual dashboard (`retrain-gate tui`). The core never imports this package."""
