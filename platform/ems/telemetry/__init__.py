"""Telemetry: points, readings, ingest-side storage, interval consumption and rollups."""
