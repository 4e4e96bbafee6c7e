"""Background work on Dramatiq over RabbitMQ: broker setup, the tenant
middleware, the single scheduler, and the actors."""
