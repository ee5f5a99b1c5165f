#!/bin/sh
# Install exerciser as a systemd service, from the checkout this script sits in.
#
#   sudo sh deploy/install.sh [--prefix DIR] [--etc DIR] [--systemd-dir DIR]
#
# What it does, each step safe to repeat (run it again to upgrade):
#   1. a virtual environment at /opt/exerciser (python3 -m venv), with this checkout
#      installed into it: dependencies pinned by uv.lock when uv is available;
#   2. /etc/exerciser/exerciser.toml from deploy/exerciser.example.toml, with
#      dry_run = true, mode 0600 root:root (it may hold alert secrets; the service
#      gets a copy as a systemd credential) -- only if absent: an operator's file is
#      never touched;
#   3. /etc/exerciser/api_key, empty, mode 0600 root:root -- only if absent;
#   4. the unit in /etc/systemd/system/exerciser.service, then daemon-reload and
#      enable. It does NOT start the service: read deploy/runbook.md first.
#
# Overrides (flags win over the environment), for staging and for the tests:
#   EXERCISER_PREFIX  (--prefix)       venv and docs          default /opt/exerciser
#   EXERCISER_ETC     (--etc)          config and key         default /etc/exerciser
#   SYSTEMD_DIR       (--systemd-dir)  where the unit goes    default /etc/systemd/system
#   SYSTEMCTL         systemctl to call (SYSTEMCTL=true skips it)   default systemctl
#   PYTHON            interpreter for the venv (3.11 or newer)      default python3
#   EXERCISER_SKIP_PIP=1       create the venv without pip and install nothing into it
#   EXERCISER_ALLOW_NONROOT=1  run as another user (files then keep that owner)
# The unit's paths are rewritten to match --prefix and --etc.
set -eu

PREFIX=${EXERCISER_PREFIX:-/opt/exerciser}
ETC=${EXERCISER_ETC:-/etc/exerciser}
UNIT_DIR=${SYSTEMD_DIR:-/etc/systemd/system}
SYSTEMCTL=${SYSTEMCTL:-systemctl}
PYTHON=${PYTHON:-python3}
UNIT=exerciser.service

say() { printf 'install.sh: %s\n' "$*"; }
die() { printf 'install.sh: error: %s\n' "$*" >&2; exit 1; }

usage() {
    sed -n '2,/^set -eu/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
    case $1 in
        --prefix) [ $# -ge 2 ] || die "--prefix needs a directory"; PREFIX=$2; shift 2 ;;
        --prefix=*) PREFIX=${1#*=}; shift ;;
        --etc) [ $# -ge 2 ] || die "--etc needs a directory"; ETC=$2; shift 2 ;;
        --etc=*) ETC=${1#*=}; shift ;;
        --systemd-dir) [ $# -ge 2 ] || die "--systemd-dir needs a directory"; UNIT_DIR=$2; shift 2 ;;
        --systemd-dir=*) UNIT_DIR=${1#*=}; shift ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown argument: $1 (try --help)" ;;
    esac
done

for dir in "$PREFIX" "$ETC" "$UNIT_DIR"; do
    case $dir in
        /*) ;;
        *) die "paths must be absolute: $dir" ;;
    esac
done

CHECKOUT=$(cd "$(dirname "$0")/.." && pwd)
[ -f "$CHECKOUT/pyproject.toml" ] && [ -f "$CHECKOUT/systemd/$UNIT" ] \
    || die "run me from a checkout of exerciser ($CHECKOUT has no pyproject.toml or unit)"

if [ "$(id -u)" -eq 0 ]; then
    AS_ROOT=1
elif [ "${EXERCISER_ALLOW_NONROOT:-0}" = 1 ]; then
    AS_ROOT=0
else
    die "run as root (sudo sh $0), or set EXERCISER_ALLOW_NONROOT=1 for a staging tree"
fi

umask 022
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

pip() { "$PREFIX/bin/python" -m pip --disable-pip-version-check --quiet "$@"; }

# Owner root:root when we can; a non-root staging run keeps the caller's.
own_root() {
    if [ "$AS_ROOT" = 1 ]; then chown root:root "$@"; fi
}

# 1. The virtual environment and the package. ----------------------------------------
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die "$PYTHON is older than Python 3.11 (set PYTHON=/path/to/python3.11)"

if [ "${EXERCISER_SKIP_PIP:-0}" = 1 ]; then
    say "venv $PREFIX (EXERCISER_SKIP_PIP=1: without pip, nothing installed)"
    "$PYTHON" -m venv --without-pip "$PREFIX"
else
    say "venv $PREFIX"
    "$PYTHON" -m venv "$PREFIX"
    if command -v uv >/dev/null 2>&1 && [ -f "$CHECKOUT/uv.lock" ]; then
        say "dependencies pinned by uv.lock (hash-checked)"
        (cd "$CHECKOUT" && uv export --quiet --locked --no-dev --no-emit-project \
            --format requirements-txt --output-file "$WORK/requirements.txt")
        pip install --require-hashes --requirement "$WORK/requirements.txt"
    else
        say "uv not found: dependencies resolved from pyproject.toml, not pinned by uv.lock"
    fi
    # Build the wheel once, install what it needs, then force this build in: the
    # version number does not change between commits, so pip would keep the old one.
    pip wheel --no-deps --wheel-dir "$WORK/wheel" "$CHECKOUT"
    set -- "$WORK"/wheel/exerciser-*.whl
    [ -f "$1" ] || die "no wheel was built from $CHECKOUT"
    pip install "$1"
    pip install --no-deps --force-reinstall "$1"
    "$PREFIX/bin/exerciser" --version
fi

DOC="$PREFIX/share/doc/exerciser"
mkdir -p "$DOC/rules"
cp "$CHECKOUT/deploy/runbook.md" "$CHECKOUT/deploy/exerciser.example.toml" "$DOC/"
cp "$CHECKOUT/systemd/README.md" "$DOC/systemd.md"
cp "$CHECKOUT"/rules/*.yaml "$DOC/rules/"

# 2. and 3. Configuration and the API key: created when absent, never replaced. -------
# The service reads the config and the key as credentials (systemd, as root, copies
# them), but the rules file directly: the directory must stay traversable.
if [ ! -d "$ETC" ]; then
    mkdir -p "$ETC"
    chmod 0755 "$ETC"
    own_root "$ETC"
fi

# Secrets are the operator's files: a loose mode is reported, never changed.
warn_if_shared() {
    case $(stat -L -c '%a' "$1") in
        *00) ;;
        *) say "warning: $1 is readable by other users: chmod 0600 $1" ;;
    esac
}

CONFIG="$ETC/exerciser.toml"
if [ -e "$CONFIG" ] || [ -L "$CONFIG" ]; then
    say "kept $CONFIG (yours; compare with $DOC/exerciser.example.toml after upgrades)"
    warn_if_shared "$CONFIG"
else
    # A fresh install starts in the dry-run week: nothing is sent until you say so.
    sed 's/^# dry_run = false$/dry_run = true  # the dry-run week: see runbook.md, "Going live"/' \
        "$CHECKOUT/deploy/exerciser.example.toml" > "$WORK/exerciser.toml"
    grep -q '^dry_run = true' "$WORK/exerciser.toml" \
        || say "warning: could not set dry_run = true in $CONFIG: set it by hand"
    chmod 0600 "$WORK/exerciser.toml"
    own_root "$WORK/exerciser.toml"
    mv "$WORK/exerciser.toml" "$CONFIG"
    say "created $CONFIG (dry_run = true, mode 0600)"
fi

KEY="$ETC/api_key"
if [ -e "$KEY" ] || [ -L "$KEY" ]; then
    say "kept $KEY"
    warn_if_shared "$KEY"
else
    (umask 077 && : > "$KEY")
    chmod 0600 "$KEY"
    own_root "$KEY"
    say "created $KEY, empty (mode 0600): write the Clear Street API key into it"
fi

# 4. The unit. Ours, replaced on every run: local changes go in a drop-in
#    (systemctl edit exerciser). --------------------------------------------------------
escape() { printf '%s' "$1" | sed 's/[\\|&]/\\&/g'; }
P=$(escape "$PREFIX")
E=$(escape "$ETC")
mkdir -p "$UNIT_DIR"
sed -e "s|=/opt/exerciser/|=$P/|" -e "s|file:///opt/exerciser/|file://$P/|" \
    -e "s|:/etc/exerciser/|:$E/|" \
    "$CHECKOUT/systemd/$UNIT" > "$WORK/$UNIT"
chmod 0644 "$WORK/$UNIT"
own_root "$WORK/$UNIT"
mv "$WORK/$UNIT" "$UNIT_DIR/$UNIT"
say "installed $UNIT_DIR/$UNIT"

$SYSTEMCTL daemon-reload
$SYSTEMCTL enable "$UNIT"

if [ ! -s "$KEY" ]; then
    cat <<EOF

Next steps (deploy/runbook.md, also in $DOC/runbook.md):
  1. Write the API key:      sudoedit $KEY
  2. Review the settings:    sudoedit $CONFIG   (a fresh one has dry_run = true)
  3. Start the dry-run week: systemctl start exerciser && journalctl -u exerciser -f
     Read each day's preview and outcome reports; go live only after a clean week.
The service is enabled (it starts at boot) but has not been started.
EOF
else
    cat <<EOF

Installed and enabled, not started or restarted. If the service is running, restart it
outside expiry afternoons to pick up this version: systemctl restart exerciser
EOF
fi
