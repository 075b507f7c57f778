"""Actions: one module per cloud, registered by name (see base.py)."""
