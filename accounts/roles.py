"""Staff roles are Django groups, created by accounts' migration 0002; these are their names."""

SALES = "Sales"
BILLING_ADMINS = "Billing admins"
