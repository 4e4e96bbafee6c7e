"""Identity and access: passwords, sessions with CSRF, OAuth 2 client credentials
with JWT access tokens, principals, and the one permission check."""
