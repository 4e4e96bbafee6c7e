"""The SaaS control plane: tenant registry, plans and quotas, provisioning,
memberships of users, service providers and regulators, suspension, export and
deletion, and running tenant migrations across every schema.
"""
