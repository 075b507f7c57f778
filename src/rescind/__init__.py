"""rescind: walk a responder through a leaked-credential incident."""

__version__ = "0.1.0"
