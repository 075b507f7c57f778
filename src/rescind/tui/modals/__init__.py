"""Modal screens: each returns the responder's choice through ``dismiss``."""

from pathlib import Path

# Every modal's CSS_PATH: read when the first dialog opens, not before home's first frame.
DIALOGS_CSS = Path(__file__).with_name("dialogs.tcss")
