"""EduConnect-style OpenID Connect identity provider for pupils and their parents."""

__version__ = "0.1.0"
