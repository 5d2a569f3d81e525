"""The ``reftrack`` command, the entry point above the service and the workers."""
