"""The account page every user has: identity, password, contact details, children."""
