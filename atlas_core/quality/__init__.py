"""Row-level quality rules compiled from a contract into set-based PostgreSQL."""
