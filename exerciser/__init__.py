"""exerciser: the expiration-day option exercise daemon for the Clear Street Trading API."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("exerciser")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
