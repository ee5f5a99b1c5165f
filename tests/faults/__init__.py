"""Seeded fault injection over whole expiration days: see ``schedule`` and ``harness``."""
