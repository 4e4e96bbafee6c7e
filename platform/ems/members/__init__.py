"""Users and roles of a tenant in the portal (the services are ``ems_tenants.members``)."""
