"""Expectations that several test modules share, written out here once (never read from the code under
test)."""

# The PII columns of the shipped ``customers`` sample, in the order of its contract.
PII_COLUMNS = ["first_name", "last_name", "email", "phone", "ssn", "date_of_birth", "street_address", "notes"]

# The six quality dimensions, in the order Atlas reports them.
DIMENSIONS = ("completeness", "validity", "consistency", "accuracy", "timeliness", "uniqueness")
