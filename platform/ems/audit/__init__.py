"""The audit log: every write, with who, when, which object, before and after."""
