"""Documents: files kept beside ledger rows (personnel files, qualification certificates).

The bytes live in an object store (S3 through boto3, or a folder for the one-machine
run); the database row that owns a document keeps its name, content type, size and
SHA-256. Keys always begin with the tenant's schema name, so tenants never share a key
space (DB53/T 1026-2021 §4.3: 计量人员的档案和资质).
"""
