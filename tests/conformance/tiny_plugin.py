"""The tiny cloud as a third party ships it: a module whose import registers it all."""

from tests.conformance.tinycloud import register_all

register_all()
