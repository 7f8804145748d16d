#!/usr/bin/env bash
# Vendor the French State Design System (DSFR) from npm into idp/static/dsfr/.
#
# Usage: scripts/vendor-dsfr.sh [VERSION]
#   VERSION defaults to the latest 1.x release of @gouvfr/dsfr.
#
# Only what the hosted pages use is copied from the package's dist/: the
# minified bundle (CSS, module and nomodule JS), the utility icon classes and
# every icon SVG the stylesheets reference, the Marianne and Spectral fonts
# (woff2 + woff), the favicons, the two artwork files of the error page and
# the licence. Source maps are dropped.
#
# The pages are served with a strict Content-Security-Policy (default-src
# 'self'), which blocks the data: URIs that dsfr.min.css uses for the
# Marianne logo, the FranceConnect logo, checkboxes and toggles. This script
# therefore writes each of those SVGs to dsfr/extracted/<hash>.svg and points
# the stylesheet at the file instead; rendering is unchanged.
#
# Needs npm, tar and python3. Run from anywhere; it writes into the repository
# that contains it.
set -euo pipefail

PACKAGE="@gouvfr/dsfr"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$ROOT/idp/static/dsfr"

if [ "$#" -ge 1 ]; then
    VERSION="$1"
else
    VERSION="$(npm view "$PACKAGE@^1" version --json \
        | python3 -c '
import json, re, sys
found = json.load(sys.stdin)
found = found if isinstance(found, list) else [found]
stable = [v for v in found if re.fullmatch(r"\d+\.\d+\.\d+", v)]
print(max(stable, key=lambda v: tuple(map(int, v.split(".")))))
')"
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

echo "Fetching $PACKAGE@$VERSION"
(cd "$WORK" && npm pack --silent "$PACKAGE@$VERSION" >/dev/null)
tar -xzf "$WORK"/gouvfr-dsfr-*.tgz -C "$WORK"
PKG="$WORK/package"
DIST="$PKG/dist"
ACTUAL="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["version"])' "$PKG/package.json")"

rm -rf "$DEST"
mkdir -p "$DEST/utility/icons" "$DEST/artwork/background" "$DEST/artwork/pictograms/system"

cp "$DIST/dsfr.min.css" "$DIST/dsfr.module.min.js" "$DIST/dsfr.nomodule.min.js" "$DEST/"
cp "$DIST/utility/icons/icons.min.css" "$DEST/utility/icons/"
cp -R "$DIST/fonts" "$DIST/favicon" "$DIST/icons" "$DEST/"
cp "$DIST/artwork/background/ovoid.svg" "$DEST/artwork/background/"
cp "$DIST/artwork/pictograms/system/technical-error.svg" "$DEST/artwork/pictograms/system/"
cp "$PKG/LICENSE.md" "$DEST/LICENSE.md"
find "$DEST/fonts" -type f ! -name '*.woff2' ! -name '*.woff' -delete
printf '%s\n' "$ACTUAL" > "$DEST/VERSION"

python3 - "$DEST" <<'PY'
"""Drop source-map comments, externalise data: SVGs, check every url() resolves."""
import base64
import hashlib
import re
import sys
from pathlib import Path
from urllib.parse import unquote

dest = Path(sys.argv[1])
MAP = re.compile(r"\n?(//# sourceMappingURL=\S+|/\*# sourceMappingURL=\S+ \*/)\s*$")
DATA = re.compile(r"""url\(\s*(?:"(data:[^"]*)"|'(data:[^']*)'|(data:[^)'"\s]*))\s*\)""")
URL = re.compile(r"""url\(\s*["']?([^)"']+)["']?\s*\)""")

for name in ("dsfr.min.css", "dsfr.module.min.js", "dsfr.nomodule.min.js",
             "utility/icons/icons.min.css"):
    path = dest / name
    path.write_text(MAP.sub("\n", path.read_text(encoding="utf-8")), encoding="utf-8")

css_path = dest / "dsfr.min.css"
extracted = dest / "extracted"
extracted.mkdir(exist_ok=True)


def externalise(match):
    uri = next(group for group in match.groups() if group)
    header, _, payload = uri.partition(",")
    if not header.startswith("data:image/svg+xml"):
        raise SystemExit(f"unexpected data: URI type {header!r}")
    svg = (base64.b64decode(payload) if header.endswith(";base64")
           else unquote(payload).encode("utf-8"))
    name = hashlib.sha256(svg).hexdigest()[:16] + ".svg"
    (extracted / name).write_bytes(svg)
    return f"url(extracted/{name})"


css = DATA.sub(externalise, css_path.read_text(encoding="utf-8"))
css_path.write_text(css, encoding="utf-8")

missing = []
for name in ("dsfr.min.css", "utility/icons/icons.min.css"):
    path = dest / name
    for ref in set(URL.findall(path.read_text(encoding="utf-8"))):
        if ref.startswith("data:"):
            missing.append(f"{name}: data: URI left")
        elif not (path.parent / ref).resolve().is_file():
            missing.append(f"{name}: {ref}")
if missing:
    raise SystemExit("unresolved url() references:\n  " + "\n  ".join(sorted(missing)))
PY

echo "DSFR $ACTUAL vendored into ${DEST#"$ROOT"/} ($(du -sh "$DEST" | cut -f1))"
