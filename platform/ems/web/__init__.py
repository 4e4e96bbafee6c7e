"""The HTTP layer: app factory, request pipeline, errors, tenancy binding."""
