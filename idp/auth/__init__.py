"""Hosted login: the login page, the SSO cookie, the account page."""
