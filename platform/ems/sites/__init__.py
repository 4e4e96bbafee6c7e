"""Sites: the plants (厂区) of a tenant. The organisation model grows from here."""
