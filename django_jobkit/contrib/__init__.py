"""Integrations with other libraries, each an optional extra: jobkit itself never imports them."""
