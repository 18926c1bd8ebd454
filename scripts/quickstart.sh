#!/usr/bin/env bash
# Quick start: installs strongbox, then backs up a sample directory into a local file:// repository
# with a freshly generated key, lists it, verifies it, restores it and compares the result.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/node-env.sh
npm ci --no-audit --no-fund --loglevel=error
npm run build --silent
demo="${STRONGBOX_DEMO_DIR:-$PWD/demo}"
rm -rf "$demo"
mkdir -p "$demo/spx/projects/show-1" "$demo/spx/rundowns" "$demo/spx/ASSETS/images"
echo '{"name":"Evening news","items":["lower third","clock"]}' > "$demo/spx/rundowns/evening.json"
echo '{"template":"lower-third","fields":{"f0":"Jane Doe"}}' > "$demo/spx/projects/show-1/item-1.json"
head -c 2000000 /dev/urandom > "$demo/spx/ASSETS/images/logo.png"
sb() { node bin/strongbox -c "$demo/strongbox.yaml" "$@"; }
set -x
node bin/strongbox init "$demo" --files "$demo/spx/projects" --files "$demo/spx/rundowns" --files "$demo/spx/ASSETS"
sb config check
sb backup now
sb list
sb verify latest
sb restore latest --to-dir "$demo/restored"
diff -r "$demo/spx/projects" "$demo/restored/projects"
diff -r "$demo/spx/rundowns" "$demo/restored/rundowns"
diff -r "$demo/spx/ASSETS" "$demo/restored/assets"
{ set +x; } 2>/dev/null
echo
echo "OK: backed up, verified and restored $demo/spx; the repository is $demo/repository."
echo "Next: edit $demo/strongbox.yaml (README: Config reference), or restore by hand (README: Restoring without strongbox)."
