"""Test infrastructure: real PostgreSQL (embedded or external), a real S3 server (SeaweedFS)."""
