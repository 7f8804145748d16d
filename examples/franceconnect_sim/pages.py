"""The simulator's HTML pages: plain, in French, with no external resource."""

from __future__ import annotations

from flask import render_template_string
from markupsafe import Markup

BANNER = ("Simulateur de développement de FranceConnect — ne jamais utiliser en production. "
          "Les identités ci-dessous sont fictives.")

_BASE = """<!doctype html>
<html lang="fr">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{{ title }} — FranceConnect (simulateur)</title>
<style>
body { font-family: system-ui, sans-serif; margin: 0; color: #161616; background: #f6f6f6; }
.sim-banner { background: #b34000; color: #fff; padding: .6rem 1rem; font-weight: bold; }
main { max-width: 46rem; margin: 1.5rem auto; background: #fff; padding: 1.5rem; }
h1 { font-size: 1.4rem; color: #000091; }
table { border-collapse: collapse; width: 100%; margin: 1rem 0; }
th, td { border: 1px solid #ddd; padding: .35rem .5rem; text-align: left; font-size: .9rem; }
.error { border-left: 4px solid #ce0500; padding: .5rem 1rem; background: #fee; }
.code { font-family: monospace; font-size: 1.1rem; }
label { display: block; margin-top: .6rem; }
button { margin: .8rem .4rem 0 0; padding: .45rem 1rem; }
button.primary { background: #000091; color: #fff; border: 0; }
/* Long client ids and URLs break rather than widen the page. */
code, strong { overflow-wrap: anywhere; }
input { max-width: 100%; }
/* A row of six columns cannot fit 320 px: on narrow screens each test person is a
   block of "name: value" lines, the names coming from the cells' data-label. */
@media (max-width: 40rem) {
  main { margin: 0; padding: 1rem .75rem; }
  table, tbody, tr, td { display: block; }
  thead { position: absolute; width: 1px; height: 1px; overflow: hidden;
          clip-path: inset(50%); white-space: nowrap; }
  tr { border: 1px solid #ddd; margin-bottom: .75rem; padding: .25rem 0; }
  td { border: 0; }
  td[data-label]::before { content: attr(data-label) " : "; font-weight: bold; }
}
</style>
</head>
<body>
<div class="sim-banner" role="alert">{{ banner }}</div>
<main>
<h1>{{ title }}</h1>
{{ body }}
</main>
</body>
</html>
"""

_ERROR = """<div class="error">
<p>Une erreur s'est produite.</p>
<p>Code d'erreur : <span class="code" id="error-code">{{ code }}</span></p>
<p id="error-message">{{ message }}</p>
</div>
<p>Si vous êtes le service, corrigez la requête ; ce simulateur ne renvoie pas l'usager
vers le service quand la requête elle-même est invalide (comme FranceConnect).</p>
"""

_LOGIN = """<p>Service : <strong>{{ client_id }}</strong> —
niveau demandé : <strong>{{ acr }}</strong></p>
<p>Fournisseur d'identité simulé : « Démonstration ».
Mot de passe de chaque personne : <code>123</code>.</p>
{% if error %}<p class="error" id="login-error">{{ error }}</p>{% endif %}
<form method="post" action="{{ action }}">
<label for="login">Identifiant</label>
<input id="login" name="login" autocomplete="off" value="{{ login }}">
<label for="password">Mot de passe</label>
<input id="password" name="password" type="password" autocomplete="off">
<div>
<button class="primary" type="submit" name="action" value="login">Se connecter</button>
<button type="submit" name="action" value="cancel" formnovalidate>Refuser / Annuler</button>
</div>
</form>
<h2>Personnes de test</h2>
<table>
<thead><tr><th>Identifiant</th><th>Identité</th><th>Sexe</th><th>Naissance</th><th>Lieu</th><th></th></tr></thead>
<tbody>
{% for p in people %}
<tr>
<td data-label="Identifiant"><code>{{ p.login }}</code></td>
<td data-label="Identité">{{ p.display_name }}</td><td data-label="Sexe">{{ p.gender }}</td>
<td data-label="Naissance">{{ p.birthdate }}</td>
<td data-label="Lieu">{{ p.birthplace or "—" }} / {{ p.birthcountry }}</td>
<td><form method="post" action="{{ action }}">
<input type="hidden" name="login" value="{{ p.login }}">
<input type="hidden" name="password" value="{{ p.password }}">
<button type="submit" name="action" value="login">Choisir</button></form></td>
</tr>
{% endfor %}
</tbody>
</table>
"""

_INFO = """<p>{{ message }}</p>
{% if people %}
<h2>Personnes de test (mot de passe <code>123</code>)</h2>
<table>
<thead><tr><th>Identifiant</th><th>Identité</th><th>Sexe</th><th>Naissance</th><th>Lieu</th></tr></thead>
<tbody>
{% for p in people %}
<tr><td data-label="Identifiant"><code>{{ p.login }}</code></td>
<td data-label="Identité">{{ p.display_name }}</td><td data-label="Sexe">{{ p.gender }}</td>
<td data-label="Naissance">{{ p.birthdate }}</td>
<td data-label="Lieu">{{ p.birthplace or "—" }} / {{ p.birthcountry }}</td></tr>
{% endfor %}
</tbody>
</table>
{% endif %}
{% if links %}<ul>
{% for label, url in links %}<li>{{ label }} : <code>{{ url }}</code></li>{% endfor %}
</ul>{% endif %}
"""


def _page(title: str, body_template: str, **context) -> str:
    body = render_template_string(body_template, **context)
    return render_template_string(_BASE, title=title, banner=BANNER, body=Markup(body))  # noqa: S704


def error_page(code: str, message: str) -> str:
    """FranceConnect's error page: a "Y" code and a message, no redirection."""
    return _page("FranceConnect — simulateur de développement", _ERROR, code=code,
                 message=message)


def login_page(*, action: str, client_id: str, acr: str, people, error: str = "",
               login: str = "") -> str:
    """The identity provider's login form, with the test people."""
    return _page("FranceConnect — simulateur de développement", _LOGIN, action=action,
                 client_id=client_id, acr=acr, people=people, error=error, login=login)


def info_page(message: str, *, people=(), links=()) -> str:
    """A plain message (home page, logged out)."""
    return _page("FranceConnect — simulateur de développement", _INFO, message=message,
                 people=people, links=links)
