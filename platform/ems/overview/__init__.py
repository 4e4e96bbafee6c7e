"""A plant at a glance: gateway health, data completeness, open faults, latest values."""
