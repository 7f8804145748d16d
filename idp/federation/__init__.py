"""Federation: logging in with FranceConnect, as an OpenID Connect client of it."""
