"""The provider's services, built once per application from its configuration."""

from __future__ import annotations

import redis as redis_lib

from idp.federation.client import FranceConnectClient
from idp.oauth.server import IdTokenEncoder
from idp.oauth.server import build_server
from idp.services.accounts import LoginService
from idp.services.flows import FlowStore
from idp.services.keys import KeyService
from idp.services.messages import Messenger
from idp.services.passwords import Passwords
from idp.services.phone_codes import PhoneCodes
from idp.services.ratelimit import RateLimiter
from idp.services.sessions import SessionService


class Provider:
    """Holds the configured services; reached through `current_provider()`."""

    def __init__(self, app):
        cfg = app.config
        self.config = cfg
        self.redis = (
            redis_lib.Redis.from_url(
                cfg["REDIS_URL"], socket_timeout=2, socket_connect_timeout=2,
                health_check_interval=30,
            )
            if cfg.get("REDIS_URL")
            else None
        )
        self.passwords = Passwords.from_config(cfg)
        self.ratelimiter = RateLimiter(self.redis, cfg["REDIS_PREFIX"])
        self.flows = FlowStore(self.redis, cfg["FLOW_TTL"], cfg["REDIS_PREFIX"])
        self.sessions = SessionService(cfg["SESSION_IDLE_TTL"], cfg["SESSION_MAX_TTL"])
        self.keys = KeyService(cfg["SECRET_KEY"], cfg["RETIRED_KEY_TTL"])
        self.login = LoginService(
            self.passwords,
            self.ratelimiter,
            threshold=cfg["LOCK_THRESHOLD"],
            base_seconds=cfg["LOCK_BASE_SECONDS"],
            max_seconds=cfg["LOCK_MAX_SECONDS"],
            key_secret=cfg["SECRET_KEY"],
        )
        self.messages = Messenger.from_config(
            cfg, lambda template, **context: app.jinja_env.get_template(template).render(
                **context)
        )
        self.phone_codes = PhoneCodes(self.messages, self.ratelimiter, cfg["SECRET_KEY"])
        self.franceconnect = (
            FranceConnectClient(
                issuer=cfg["FC_ISSUER"], client_id=cfg["FC_CLIENT_ID"],
                client_secret=cfg["FC_CLIENT_SECRET"],
                redirect_uri=f"{cfg['ISSUER']}/federation/franceconnect/retour",
                post_logout_redirect_uri=f"{cfg['ISSUER']}/federation/franceconnect/deconnexion",
                scopes=cfg["FC_SCOPES"], acr=cfg["FC_ACR"], timeout=cfg["FC_TIMEOUT"],
                retries=cfg["FC_RETRIES"], seal_secret=cfg["SECRET_KEY"],
            )
            if cfg.get("FC_ISSUER")
            else None
        )
        self.id_tokens = IdTokenEncoder(self)
        self.server = build_server(app, self)
