"""The extractor's version, as recorded in every row."""

from importlib.metadata import PackageNotFoundError, version

try:
    EXTRACTOR_VERSION = version("cardex")
except PackageNotFoundError:  # running from a source tree that was not installed
    EXTRACTOR_VERSION = "0+unknown"
