"""Event payloads, one module per owning service."""
