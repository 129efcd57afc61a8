"""The HTTP API: orders in, the report out, health and metrics for the operator."""
