#!/usr/bin/env bash
# Installs (or removes) contentflow-worker as a systemd service on a Linux VM. Idempotent: run it again to upgrade.
# See docs/deployment.md.
set -euo pipefail

SERVICE=contentflow-worker
# Where releases are downloaded from (GitHub's layout: <base>/download/v<version>/<asset>,
# <base>/latest/download/<asset>). A mirror or an air-gapped repository serves the same layout: --base-url.
DEFAULT_RELEASE_URL="${CONTENTFLOW_WORKER_RELEASE_URL:-https://github.com/contentflow/contentflow-worker/releases}"
SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(dirname -- "$SCRIPT_DIR")"

usage() {
  cat <<EOF
Usage: sudo $0 [options]
       sudo $0 --version X.Y.Z|latest [--base-url URL] [options]
       sudo $0 --rollback [options]
       sudo $0 --uninstall [--purge] [options]

Installs the contentflow-worker binary, a system user, /etc/contentflow-worker/env and the systemd unit,
then enables and starts the service. Running it again upgrades the binary and the unit and restarts the
service; an existing env file is always kept. The binary replaced by an upgrade is kept as
<prefix>/bin/contentflow-worker.previous for --rollback.

One-line install of a release (downloads the binary for this machine, verifies it against SHA256SUMS):
  curl -fsSL <base-url>/latest/download/install.sh | sudo bash -s -- --version latest

Options:
  --version V       download release V (X.Y.Z, or latest) instead of using a local binary: the asset
                    contentflow-worker-V-linux-<arch> and SHA256SUMS; nothing is replaced unless the checksum
                    matches and the new binary answers \`version\` with V
  --base-url URL    where releases are (default: $DEFAULT_RELEASE_URL, or
                    \$CONTENTFLOW_WORKER_RELEASE_URL); files are read from URL/download/vV/ (URL/latest/download/)
  --arch A          asset architecture: x64, arm64, x64-musl or arm64-musl (default: this machine's)
  --rollback        put back the binary the last upgrade replaced (…/contentflow-worker.previous) and restart
  --binary PATH     binary to install (default: contentflow-worker next to this script or one directory up,
                    or dist/contentflow-worker in a source checkout)
  --prefix DIR      installation prefix; the binary goes to DIR/bin (default: /usr/local)
  --user NAME       system user (and group) the service runs as (default: contentflow-worker)
  --env-file PATH   initial settings for /etc/contentflow-worker/env (default: the commented template);
                    ignored when /etc/contentflow-worker/env already exists
  --no-start        enable the service but do not (re)start it
  --root DIR        install into DIR instead of / (packaging, tests): no user is created, no chown,
                    no systemctl; root privileges are not required (default: \$DESTDIR)
  --uninstall       stop and disable the service, remove the unit and the binary; keep config and user
  --purge           with --uninstall: also remove /etc/contentflow-worker, /var/lib and /var/log/contentflow-worker
                    and the user
  -h, --help        show this help
EOF
}

say() { printf '%s\n' "install.sh: $*"; }
die() {
  printf '%s\n' "install.sh: error: $*" >&2
  exit 1
}
usage_error() {
  printf '%s\n' "install.sh: $* (see --help)" >&2
  exit 2
}

PREFIX=/usr/local
SERVICE_USER=contentflow-worker
BINARY=""
INITIAL_ENV=""
START=1
UNINSTALL=0
PURGE=0
ROOT="${DESTDIR:-}"
RELEASE_VERSION=""
BASE_URL="$DEFAULT_RELEASE_URL"
ARCH=""
ROLLBACK=0

need_value() { [[ $# -ge 2 && -n "$2" ]] || usage_error "$1 needs a value"; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --binary) need_value "$@"; BINARY="$2"; shift 2 ;;
    --binary=*) BINARY="${1#*=}"; shift ;;
    --prefix) need_value "$@"; PREFIX="$2"; shift 2 ;;
    --prefix=*) PREFIX="${1#*=}"; shift ;;
    --user) need_value "$@"; SERVICE_USER="$2"; shift 2 ;;
    --user=*) SERVICE_USER="${1#*=}"; shift ;;
    --env-file) need_value "$@"; INITIAL_ENV="$2"; shift 2 ;;
    --env-file=*) INITIAL_ENV="${1#*=}"; shift ;;
    --root) need_value "$@"; ROOT="$2"; shift 2 ;;
    --root=*) ROOT="${1#*=}"; shift ;;
    --version) need_value "$@"; RELEASE_VERSION="$2"; shift 2 ;;
    --version=*) RELEASE_VERSION="${1#*=}"; shift ;;
    --base-url) need_value "$@"; BASE_URL="$2"; shift 2 ;;
    --base-url=*) BASE_URL="${1#*=}"; shift ;;
    --arch) need_value "$@"; ARCH="$2"; shift 2 ;;
    --arch=*) ARCH="${1#*=}"; shift ;;
    --rollback) ROLLBACK=1; shift ;;
    --no-start) START=0; shift ;;
    --uninstall) UNINSTALL=1; shift ;;
    --purge) PURGE=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage_error "unknown option $1" ;;
  esac
done

[[ "$PREFIX" == /* ]] || usage_error "--prefix must be an absolute path, got '$PREFIX'"
PREFIX="${PREFIX%/}"
[[ "$SERVICE_USER" =~ ^[a-z_][a-z0-9_-]{0,30}$ ]] || usage_error "--user '$SERVICE_USER' is not a valid user name"
[[ $PURGE -eq 0 || $UNINSTALL -eq 1 ]] || usage_error "--purge only goes with --uninstall"
[[ -z "$RELEASE_VERSION" || -z "$BINARY" ]] || usage_error "--version and --binary exclude each other"
[[ $ROLLBACK -eq 0 || ( -z "$RELEASE_VERSION" && -z "$BINARY" && $UNINSTALL -eq 0 ) ]] ||
  usage_error "--rollback goes alone (no --version, --binary or --uninstall)"
if [[ -n "$RELEASE_VERSION" && "$RELEASE_VERSION" != latest ]]; then
  RELEASE_VERSION="${RELEASE_VERSION#v}"
  [[ "$RELEASE_VERSION" =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.+-]+)?$ ]] ||
    usage_error "--version '$RELEASE_VERSION' is not X.Y.Z or latest"
fi
[[ -z "$ARCH" || "$ARCH" =~ ^(x64|arm64)(-musl)?$ ]] || usage_error "--arch '$ARCH' is not x64, arm64, x64-musl or arm64-musl"
[[ "$BASE_URL" =~ ^(https?|file)://.+ ]] || usage_error "--base-url '$BASE_URL' is not an http(s):// or file:// URL"
BASE_URL="${BASE_URL%/}"
if [[ -n "$ROOT" ]]; then
  mkdir -p -- "$ROOT"
  ROOT="$(cd -- "$ROOT" && pwd)"
  [[ "$ROOT" != "/" ]] || ROOT=""
fi

if [[ -z "$ROOT" && "$(id -u)" -ne 0 ]]; then
  die "must run as root (try: sudo $0 ...); use --root DIR to stage the files into a directory instead"
fi

# Paths on the target system (what the unit refers to) and where this run writes them ($ROOT prefix).
BIN_PATH="$PREFIX/bin/$SERVICE"
CONFIG_DIR="/etc/$SERVICE"
ENV_PATH="$CONFIG_DIR/env"
UNIT_PATH="/etc/systemd/system/$SERVICE.service"
STATE_DIR="/var/lib/$SERVICE"
LOG_DIR="/var/log/$SERVICE"
UNIT_TEMPLATE="$REPO_DIR/deploy/$SERVICE.service"
ENV_TEMPLATE="$REPO_DIR/deploy/$SERVICE.env.template"
[[ -f "$UNIT_TEMPLATE" ]] || UNIT_TEMPLATE="$SCRIPT_DIR/$SERVICE.service"
[[ -f "$ENV_TEMPLATE" ]] || ENV_TEMPLATE="$SCRIPT_DIR/$SERVICE.env.template"

# systemctl only when it can act: not when staging into --root, and only when systemd is the running init.
USE_SYSTEMCTL=1
if [[ -n "$ROOT" ]]; then
  USE_SYSTEMCTL=0
  say "--root $ROOT: skipping user creation, ownership changes and systemctl"
elif ! command -v systemctl >/dev/null 2>&1; then
  USE_SYSTEMCTL=0
  say "systemctl not found: skipping daemon-reload, enable and start"
elif [[ ! -d /run/systemd/system ]]; then
  USE_SYSTEMCTL=0
  say "systemd is not the running init (no /run/systemd/system): skipping daemon-reload, enable and start"
fi

unit_known() { systemctl cat "$SERVICE.service" >/dev/null 2>&1; }

uninstall() {
  if [[ $USE_SYSTEMCTL -eq 1 ]] && unit_known; then
    say "stopping and disabling $SERVICE (in-flight tasks get the drain timeout)"
    systemctl disable --now "$SERVICE.service" || say "warning: could not stop/disable $SERVICE"
  fi
  if [[ -e "$ROOT$UNIT_PATH" ]]; then
    rm -f -- "$ROOT$UNIT_PATH"
    say "removed $UNIT_PATH"
  fi
  if [[ $USE_SYSTEMCTL -eq 1 ]]; then
    systemctl daemon-reload
    systemctl reset-failed "$SERVICE.service" >/dev/null 2>&1 || true
  fi
  if [[ -e "$ROOT$BIN_PATH" ]]; then
    rm -f -- "$ROOT$BIN_PATH"
    say "removed $BIN_PATH"
  fi
  if [[ $PURGE -eq 1 ]]; then
    rm -rf -- "$ROOT$CONFIG_DIR" "$ROOT$STATE_DIR" "$ROOT$LOG_DIR"
    say "removed $CONFIG_DIR, $STATE_DIR and $LOG_DIR"
    if [[ -z "$ROOT" ]] && getent passwd "$SERVICE_USER" >/dev/null; then
      userdel "$SERVICE_USER"
      say "removed user $SERVICE_USER"
    fi
    if [[ -z "$ROOT" ]] && getent group "$SERVICE_USER" >/dev/null; then
      groupdel "$SERVICE_USER" 2>/dev/null || true
    fi
  else
    say "kept $CONFIG_DIR and user $SERVICE_USER (add --purge to remove them)"
  fi
  say "uninstalled"
}

machine_arch() {
  local a musl=""
  case "$(uname -m)" in
    x86_64 | amd64) a=x64 ;;
    aarch64 | arm64) a=arm64 ;;
    *) die "this machine's architecture $(uname -m) has no release binary (x64 and arm64 are built)" ;;
  esac
  if ls /lib/ld-musl-*.so.1 >/dev/null 2>&1 && ! ls /lib64/ld-linux-*.so.2 /lib/ld-linux-*.so.1 >/dev/null 2>&1; then
    musl=-musl
  fi
  printf '%s' "$a$musl"
}

# fetch URL FILE: the whole file or an error (HTTP errors, refused connections and cut-off transfers all fail).
fetch() {
  local url="$1" out="$2"
  if command -v curl >/dev/null 2>&1; then
    curl --fail --silent --show-error --location --retry 2 --connect-timeout 20 --max-time 900 -o "$out" "$url"
  elif command -v wget >/dev/null 2>&1; then
    wget --quiet --tries=3 --timeout=20 -O "$out" "$url"
  else
    die "neither curl nor wget is installed; install one, or download the binary yourself and use --binary"
  fi
}

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum -- "$1" | cut -d' ' -f1
  else
    shasum -a 256 -- "$1" | cut -d' ' -f1
  fi
}

# Downloads the release asset for this machine into a temporary folder, verifies it, sets BINARY to it.
download_release() {
  local arch="${ARCH:-$(machine_arch)}" dir sums_url asset_url asset version="$RELEASE_VERSION" expected actual
  dir="$(mktemp -d "${TMPDIR:-/tmp}/contentflow-worker-download.XXXXXX")"
  DOWNLOAD_DIR="$dir"
  if [[ "$version" == latest ]]; then
    sums_url="$BASE_URL/latest/download/SHA256SUMS"
  else
    sums_url="$BASE_URL/download/v$version/SHA256SUMS"
  fi
  say "downloading $sums_url"
  fetch "$sums_url" "$dir/SHA256SUMS" || die "could not download $sums_url (no such release, or the server is unreachable); nothing was changed"
  # Lines: "<sha256>  contentflow-worker-<version>-linux-<arch>"
  local line
  line="$(grep -E "^[0-9a-f]{64}  contentflow-worker-[^ ]+-linux-$arch\$" "$dir/SHA256SUMS" | head -n 1 || true)"
  if [[ -z "$line" ]]; then
    local available
    available="$(grep -oE 'linux-[a-z0-9-]+$' "$dir/SHA256SUMS" | sed 's/^linux-//' | tr '\n' ' ')"
    die "release ${version} has no binary for linux-$arch (it has: ${available:-none}); nothing was changed"
  fi
  expected="${line%% *}"
  asset="${line##* }"
  if [[ "$version" == latest ]]; then
    version="${asset#contentflow-worker-}"
    version="${version%-linux-$arch}"
    asset_url="$BASE_URL/latest/download/$asset"
  else
    [[ "$asset" == "contentflow-worker-$version-linux-$arch" ]] ||
      die "SHA256SUMS of v$version names $asset, not contentflow-worker-$version-linux-$arch; nothing was changed"
    asset_url="$BASE_URL/download/v$version/$asset"
  fi
  say "downloading $asset_url"
  fetch "$asset_url" "$dir/$asset" || die "could not download $asset_url (missing asset or interrupted transfer); nothing was changed"
  actual="$(sha256_of "$dir/$asset")"
  if [[ "$actual" != "$expected" ]]; then
    die "checksum mismatch for $asset: SHA256SUMS says $expected, the download is $actual (corrupt or tampered download); nothing was changed"
  fi
  say "checksum verified: $asset ($actual)"
  chmod 0755 -- "$dir/$asset"
  local answer
  if ! answer="$("$dir/$asset" version --json 2>&1)"; then
    die "the downloaded binary does not run on this machine ($(uname -m), asset linux-$arch): ${answer:0:200}; nothing was changed"
  fi
  if [[ "$answer" != *"\"version\":\"$version\""* ]]; then
    die "the downloaded binary reports ${answer:0:200}, not version $version; nothing was changed"
  fi
  say "the new binary answers: $answer"
  BINARY="$dir/$asset"
  # Run as `curl … | bash`, this script has no unit or env template beside it: take the release's own, verified.
  local file release_dir="${asset_url%/*}"
  for file in "$SERVICE.service" "$SERVICE.env.template"; do
    if [[ "$file" == *.service && -f "$UNIT_TEMPLATE" ]] || [[ "$file" == *.template && -f "$ENV_TEMPLATE" ]]; then
      continue
    fi
    fetch "$release_dir/$file" "$dir/$file" || die "could not download $release_dir/$file; nothing was changed"
    expected="$(grep -E "  $file\$" "$dir/SHA256SUMS" | cut -d' ' -f1 | head -n 1)"
    [[ -n "$expected" && "$(sha256_of "$dir/$file")" == "$expected" ]] ||
      die "checksum mismatch or missing SHA256SUMS line for $file; nothing was changed"
    if [[ "$file" == *.service ]]; then UNIT_TEMPLATE="$dir/$file"; else ENV_TEMPLATE="$dir/$file"; fi
  done
}

rollback() {
  local dest="$ROOT$BIN_PATH" previous="$ROOT$BIN_PATH.previous"
  [[ -f "$previous" ]] || die "no previous binary at $BIN_PATH.previous (nothing to roll back to)"
  "$previous" version >/dev/null 2>&1 || die "$BIN_PATH.previous does not run; not rolling back"
  local tmp="$dest.new.$$"
  install -m 0755 -- "$previous" "$tmp"
  if [[ -f "$dest" ]]; then mv -f -- "$dest" "$previous"; fi
  mv -f -- "$tmp" "$dest"
  say "rolled back: $BIN_PATH is the previous binary again (the replaced one is now $BIN_PATH.previous)"
  BINARY_CHANGED=1
}

find_binary() {
  if [[ -n "$BINARY" ]]; then
    [[ -f "$BINARY" ]] || die "--binary $BINARY: no such file"
  elif [[ -f "$SCRIPT_DIR/$SERVICE" ]]; then
    BINARY="$SCRIPT_DIR/$SERVICE"
  elif [[ -f "$REPO_DIR/$SERVICE" && -x "$REPO_DIR/$SERVICE" ]]; then
    BINARY="$REPO_DIR/$SERVICE"
  elif [[ -f "$REPO_DIR/dist/$SERVICE" ]]; then
    BINARY="$REPO_DIR/dist/$SERVICE"
  else
    die "no binary found: pass --binary PATH (build one with: bun run build)"
  fi
}

ensure_user() {
  if [[ -n "$ROOT" ]]; then return; fi
  if getent passwd "$SERVICE_USER" >/dev/null; then
    say "user $SERVICE_USER exists"
    return
  fi
  local nologin=/usr/sbin/nologin
  [[ -x "$nologin" ]] || nologin=/sbin/nologin
  [[ -x "$nologin" ]] || nologin=/bin/false
  # No home directory is created: systemd creates $STATE_DIR (StateDirectory=) owned by the user at start.
  useradd --system --user-group --no-create-home --home-dir "$STATE_DIR" --shell "$nologin" \
    --comment "ContentFlow worker" "$SERVICE_USER"
  say "created system user $SERVICE_USER (no login shell, home $STATE_DIR)"
}

install_binary() {
  local dest="$ROOT$BIN_PATH"
  mkdir -p -- "$(dirname -- "$dest")"
  if [[ -f "$dest" ]] && cmp -s -- "$BINARY" "$dest"; then
    say "binary $BIN_PATH is up to date"
    BINARY_CHANGED=0
    return
  fi
  # Copy next to the target, then rename: a running service keeps its old file, nothing sees a half-written one.
  # The replaced binary stays as .previous for --rollback.
  local tmp="$dest.new.$$"
  install -m 0755 -- "$BINARY" "$tmp"
  if [[ -f "$dest" ]]; then
    cp -p -- "$dest" "$dest.previous"
    say "kept the replaced binary as $BIN_PATH.previous (install.sh --rollback puts it back)"
  fi
  mv -f -- "$tmp" "$dest"
  BINARY_CHANGED=1
  say "installed $BINARY as $BIN_PATH"
}

install_env_file() {
  local dest="$ROOT$ENV_PATH"
  mkdir -p -- "$ROOT$CONFIG_DIR"
  chmod 0750 -- "$ROOT$CONFIG_DIR"
  if [[ -e "$dest" ]]; then
    say "kept the existing $ENV_PATH (never overwritten; the template is $ENV_TEMPLATE)"
    if [[ -n "$(find "$dest" -maxdepth 0 -perm /077 2>/dev/null)" ]]; then
      say "warning: $ENV_PATH is readable by others than its owner; it may hold secrets: chmod 600 $ENV_PATH"
    fi
    ENV_CREATED=0
    return
  fi
  local source="$ENV_TEMPLATE"
  if [[ -n "$INITIAL_ENV" ]]; then
    [[ -f "$INITIAL_ENV" ]] || die "--env-file $INITIAL_ENV: no such file"
    source="$INITIAL_ENV"
  fi
  [[ -f "$source" ]] || die "env template $source is missing"
  # The file holds secrets. systemd reads EnvironmentFile= as root before dropping privileges, so the service
  # user needs no access: root:root 0600.
  (umask 077 && cp -- "$source" "$dest.new.$$")
  chmod 0600 -- "$dest.new.$$"
  mv -f -- "$dest.new.$$" "$dest"
  ENV_CREATED=1
  if [[ -n "$INITIAL_ENV" ]]; then
    say "wrote $ENV_PATH from $INITIAL_ENV (mode 0600)"
  else
    say "wrote $ENV_PATH from the template (mode 0600): fill in the required settings"
  fi
}

render_unit() {
  [[ -f "$UNIT_TEMPLATE" ]] || die "unit template $UNIT_TEMPLATE is missing"
  local escaped_bin
  escaped_bin="$(printf '%s' "$BIN_PATH" | sed 's/[\/&|]/\\&/g')"
  sed -e "s|@BINARY@|$escaped_bin|g" \
    -e "s|@USER@|$SERVICE_USER|g" \
    -e "s|@GROUP@|$SERVICE_USER|g" \
    -e "s|@ENV_FILE@|$ENV_PATH|g" \
    "$UNIT_TEMPLATE"
}

install_unit() {
  local dest="$ROOT$UNIT_PATH" rendered
  rendered="$(render_unit)"
  mkdir -p -- "$(dirname -- "$dest")"
  if [[ -f "$dest" ]] && [[ "$(cat -- "$dest")" == "$rendered" ]]; then
    say "unit $UNIT_PATH is up to date"
    UNIT_CHANGED=0
    return
  fi
  printf '%s\n' "$rendered" >"$dest.new.$$"
  chmod 0644 -- "$dest.new.$$"
  mv -f -- "$dest.new.$$" "$dest"
  UNIT_CHANGED=1
  say "installed unit $UNIT_PATH"
}

start_service() {
  if [[ $USE_SYSTEMCTL -eq 0 ]]; then
    say "not enabling or starting $SERVICE (no systemctl here); on the target run: systemctl daemon-reload && systemctl enable --now $SERVICE"
    return
  fi
  systemctl daemon-reload
  systemctl enable "$SERVICE.service" >/dev/null
  say "enabled $SERVICE (starts at boot)"
  if [[ $START -eq 0 ]]; then
    say "--no-start: not starting; run: systemctl start $SERVICE"
  elif [[ $ENV_CREATED -eq 1 && -z "$INITIAL_ENV" ]]; then
    say "not starting yet: edit $ENV_PATH, then run: systemctl start $SERVICE"
  elif systemctl is-active --quiet "$SERVICE.service"; then
    if [[ $BINARY_CHANGED -eq 1 || $UNIT_CHANGED -eq 1 ]]; then
      say "restarting $SERVICE (in-flight tasks drain first; unfinished messages return to the queue)"
      systemctl restart "$SERVICE.service"
    else
      say "$SERVICE is running and nothing changed"
    fi
  else
    say "starting $SERVICE (waits for READY=1 from the supervisor)"
    systemctl start "$SERVICE.service" || die "start failed; see: journalctl -u $SERVICE -n 50 --no-pager"
  fi
  if [[ $START -eq 1 ]]; then
    say "check it with: systemctl status $SERVICE; journalctl -u $SERVICE -f -o cat; $BIN_PATH status"
  fi
}

if [[ $UNINSTALL -eq 1 ]]; then
  uninstall
  exit 0
fi

BINARY_CHANGED=0
UNIT_CHANGED=0
ENV_CREATED=0
DOWNLOAD_DIR=""
trap '[[ -z "$DOWNLOAD_DIR" ]] || rm -rf -- "$DOWNLOAD_DIR"' EXIT
if [[ $ROLLBACK -eq 1 ]]; then
  rollback
  install_unit
  start_service
  say "done"
  exit 0
fi
if [[ -n "$RELEASE_VERSION" ]]; then
  download_release
else
  find_binary
fi
ensure_user
install_binary
install_env_file
install_unit
start_service
say "done"
