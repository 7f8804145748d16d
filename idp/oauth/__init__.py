"""The OpenID Connect protocol: endpoints, grants, tokens and claims."""
