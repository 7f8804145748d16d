"""A malicious "FranceConnect" v2 for the tests, run as a real process: its own keys,
and answers spoiled on request. Not the simulator: this one signs whatever it is told.

    python -m tests.federation.malicious_fc --port P --client-id ID

POST /_mal/mode {json} replaces the mode ({} resets):
  id: {claim: value | "__delete__"}   the ID token's claims
  ui: {claim: value | "__delete__"}   the userinfo's claims
  ui_resp: "jwt" | "json"             a signed JWT (default) or plain JSON
  token_drip: [pieces, seconds]       the (valid) token answer sent in pieces, slowly
  token_pad: bytes                    the (valid) token answer grown by so much
                                      padding, streamed without a Content-Length
  token_pad_sized: bytes              likewise, in one piece with its Content-Length
  sub: the subject
"""

from __future__ import annotations

import argparse
import json
import secrets
import time
from urllib.parse import urlencode

from flask import Flask
from flask import Response
from flask import jsonify
from flask import redirect
from flask import request
from joserfc import jwt
from joserfc.jwk import ECKey

SUB = "8168428cd99f0e71373a05cc1421ed9556aeb329ed16fae8478cc5a6975faee5v1"


def create_app(issuer: str, client_id: str) -> Flask:
    app = Flask(__name__)
    key = ECKey.generate_key("P-256", parameters={"kid": "mal-es", "use": "sig",
                                                  "alg": "ES256"})
    mode: dict = {}
    codes: dict = {}

    def apply(claims: dict, changes: dict) -> dict:
        for name, value in changes.items():
            if value == "__delete__":
                claims.pop(name, None)
            else:
                claims[name] = value
        return claims

    def sign(claims: dict) -> str:
        return jwt.encode({"alg": "ES256", "kid": "mal-es", "typ": "JWT"}, claims, key)

    def padded(body: str, size: int, mimetype: str) -> Response:
        # `body` ends with "}": the padding goes in a last member, streamed.
        head, chunk = body[:-1] + ', "padding": "', "A" * 65536

        def stream():
            yield head
            for _ in range(size // len(chunk) + 1):
                yield chunk
            yield '"}'
        return Response(stream(), mimetype=mimetype)

    @app.post("/_mal/mode")
    def set_mode():
        mode.clear()
        mode.update(request.get_json())
        return jsonify(mode)

    @app.get("/api/v2/.well-known/openid-configuration")
    def discovery():
        return jsonify({"issuer": issuer, "authorization_endpoint": issuer + "/authorize",
                        "token_endpoint": issuer + "/token",
                        "userinfo_endpoint": issuer + "/userinfo",
                        "jwks_uri": issuer + "/jwks",
                        "end_session_endpoint": issuer + "/session/end",
                        "id_token_signing_alg_values_supported": ["ES256"]})

    @app.get("/api/v2/jwks")
    def jwks():
        return jsonify({"keys": [key.as_dict(private=False)]})

    @app.get("/api/v2/authorize")
    def authorize():
        code = secrets.token_urlsafe(16)
        codes[code] = request.args.get("nonce")
        return redirect(request.args["redirect_uri"] + "?"
                        + urlencode({"code": code, "state": request.args["state"]}))

    @app.post("/api/v2/token")
    def token():
        now = int(time.time())
        claims = apply({"iss": issuer, "sub": mode.get("sub", SUB), "aud": client_id,
                        "exp": now + 60, "iat": now, "auth_time": now,
                        "nonce": codes.pop(request.form.get("code"), None), "acr": "eidas1",
                        "amr": ["pwd"]}, mode.get("id", {}))
        body = json.dumps({"access_token": "AT-" + secrets.token_urlsafe(16),
                           "token_type": "Bearer", "expires_in": 60,
                           "id_token": sign(claims)})
        if mode.get("token_pad"):
            return padded(body, mode["token_pad"], "application/json")
        if mode.get("token_pad_sized"):
            body = body[:-1] + ', "padding": "' + "A" * mode["token_pad_sized"] + '"}'
        if mode.get("token_drip"):
            pieces, pause = mode["token_drip"]
            size = len(body) // pieces + 1

            def drip():
                for start in range(0, len(body), size):
                    yield body[start:start + size]
                    time.sleep(pause)
            return Response(drip(), mimetype="application/json")
        return Response(body, mimetype="application/json")

    @app.get("/api/v2/userinfo")
    def userinfo():
        claims = apply({"iss": issuer, "aud": client_id, "iat": int(time.time()),
                        "sub": mode.get("sub", SUB), "given_name": "Jean-Pierre Marcel",
                        "family_name": "MOREAU", "birthdate": "1979-06-14",
                        "gender": "male", "birthplace": "83137", "birthcountry": "99100"},
                       mode.get("ui", {}))
        if mode.get("ui_resp") == "json":
            return jsonify(claims)
        return Response(sign(claims), mimetype="application/jwt")

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--client-id", required=True)
    args = parser.parse_args()
    issuer = f"http://127.0.0.1:{args.port}/api/v2"
    create_app(issuer, args.client_id).run(host="127.0.0.1", port=args.port, threaded=True)


if __name__ == "__main__":
    main()
