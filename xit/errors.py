"""Error types that carry a message naming the bad value and the fix."""


class XitConfigError(ValueError):
    """A parameter has a bad value; raised before any compute starts."""


class DataNotFoundError(FileNotFoundError):
    """Data a task or target needs is missing; the message says where xit looked and how to point elsewhere."""
