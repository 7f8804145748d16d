"""Recovery of lost identifiers and forgotten passwords ("Identifiant perdu", "Mot de passe
oublié"), for parents (by SMS) and pupils (by e-mail), and the credential changes made from
the account page, which share its rules: single-use codes and links, rate limits, the end
of every session after a new password, and a message telling the person."""
