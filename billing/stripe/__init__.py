"""Stripe: the API client (the only module that imports ``stripe``), the offline local
gateway that plays Stripe's part in the embedded default, webhooks and their handlers."""
