"""Accounts distributed by schools: the administrators' console, notices and commands.

School account administrators (role "admin", scoped to UAIs by `AdminScope`, with a
TOTP second factor) hand out provisional passwords on printed notices, reset and
unlock accounts, and read the "not the legal representative" reports of their schools.

- `totp`: the administrators' second factor;
- `console`: the two-step login of the console;
- `distribution`: provisional passwords (notices, reset, unlock);
- `roster`: what the console shows about a school (people, statistics, reports);
- `notices`: the printable notices;
- `views`: the console (blueprint "admin", under /admin);
- `cli`: `idp accounts distribute|reset` and `idp admins ...`.
"""
