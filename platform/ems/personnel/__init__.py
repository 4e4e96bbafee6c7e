"""Energy metering personnel (重点用能单位能源计量人员信息, DB53/T 1026-2021 §4.3 and table A.2):
the ledger, each person's file and qualification documents, and certificate expiry reminders."""

# Registers the certificate_expiry reminder source in every process (each loads the models).
from ems.personnel import reminders as _reminders  # noqa: F401
