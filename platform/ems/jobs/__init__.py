"""Background jobs: long operations (ledger imports and exports, recomputes) run by a worker,
with their progress, outcome and files kept in the tenant's schema for the portal to show."""
