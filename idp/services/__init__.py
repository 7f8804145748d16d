"""Business logic. Services know nothing of Flask requests."""
