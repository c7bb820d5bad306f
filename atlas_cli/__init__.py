"""The ``atlas`` command line."""
