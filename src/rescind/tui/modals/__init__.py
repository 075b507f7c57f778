"""Modal screens: each returns the responder's choice through ``dismiss``."""
