#!/usr/bin/env bash
# Installs (or removes) contentflow-worker as a systemd service on a Linux VM. Idempotent: run it again to upgrade.
# See docs/deployment.md.
#
# Everything below is functions, run by the last line: piped (`curl … | sudo bash -s -- …`), bash has read the whole
# script before anything runs, so a download cut off half way runs nothing and no command can read the rest of the
# script from stdin.
set -euo pipefail

SERVICE=contentflow-worker
# Where releases are downloaded from (GitHub's layout: <base>/download/v<version>/<asset>,
# <base>/latest/download/<asset>). scripts/build.mjs stamps this line from package.json `repository` into the
# release's install.sh (tests/unit/install-release.test.ts checks that the two agree). A mirror or an air-gapped
# repository serves the same layout: --base-url (or CONTENTFLOW_WORKER_RELEASE_URL, which sudo drops unless
# it is passed with `sudo --preserve-env=CONTENTFLOW_WORKER_RELEASE_URL`).
DEFAULT_RELEASE_URL="https://github.com/contentflow/contentflow-worker/releases"
# Run from a file, BASH_SOURCE names it; piped (bash -s) or from a process substitution there is no file.
SCRIPT_SOURCE="${BASH_SOURCE[0]:-}"
# Tests only: a stand-in for systemctl, used even with --root (sudo's env_reset drops it on a real install).
SYSTEMCTL="${INSTALL_SH_SYSTEMCTL:-systemctl}"

usage() {
  local file=install.sh
  [[ $PIPED -eq 1 ]] || file="$0"
  cat <<EOF
Usage: sudo bash $file --version X.Y.Z|latest [--base-url URL] [options]
       sudo bash $file [--binary PATH] [options]
       sudo bash $file --rollback [options]
       sudo bash $file --uninstall [--purge] [options]
  or piped, straight from a release (--version, --rollback or --uninstall; no local binary or templates):
       curl -fsSL $DEFAULT_RELEASE_URL/latest/download/install.sh | sudo bash -s -- --version latest [options]

Installs the contentflow-worker binary, a system user, /etc/contentflow-worker/env and the systemd unit,
then enables and starts the service. Running it again upgrades the binary and the unit and restarts the
service; an existing env file is always kept. The binary replaced by an upgrade is kept as
<prefix>/bin/contentflow-worker.previous for --rollback. When the service does not come back after an
upgrade, the previous binary (and unit) are put back and restarted, and the run fails saying so.

Options:
  --version V       download release V (X.Y.Z, or latest) instead of using a local binary: the asset
                    contentflow-worker-V-linux-<arch>, SHA256SUMS, and the release's unit and env template;
                    nothing is replaced unless every checksum matches and the new binary answers \`version\` with V
  --base-url URL    where releases are (default: $DEFAULT_RELEASE_URL);
                    files are read from URL/download/vV/ (URL/latest/download/). https:// or file:// only
                    (http:// only on a loopback address: 127.0.0.1, [::1], localhost); redirects only to https.
                    \$CONTENTFLOW_WORKER_RELEASE_URL sets the default too, but sudo drops it unless run as
                    sudo --preserve-env=CONTENTFLOW_WORKER_RELEASE_URL …
  --arch A          asset architecture: x64, arm64, x64-musl or arm64-musl (default: this machine's)
  --rollback        swap the binary with the one the last upgrade replaced (…/contentflow-worker.previous)
                    and restart; run it again to swap back. The unit is left as it is
  --binary PATH     binary to install (default: contentflow-worker next to this script or one directory up,
                    or dist/contentflow-worker in a source checkout)
  --prefix DIR      installation prefix; the binary goes to DIR/bin (default: /usr/local)
  --user NAME       system user (and group) the service runs as (default: contentflow-worker)
  --env-file PATH   initial settings for /etc/contentflow-worker/env (default: the commented template);
                    ignored when /etc/contentflow-worker/env already exists
  --no-start        enable the service but do not (re)start it
  --root DIR        install into DIR instead of / (packaging, tests): no user is created, no chown,
                    no systemctl; root privileges are not required (default: \$DESTDIR)
  --uninstall       stop and disable the service, remove the unit and the binary; keep config, user and
                    the previous binary
  --purge           with --uninstall: also remove the previous binary, /etc/contentflow-worker,
                    /var/lib and /var/log/contentflow-worker and the user
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

# How the run was started: from a file (templates and a local binary may lie beside it) or piped (nothing local).
detect_source() {
  if [[ -n "$SCRIPT_SOURCE" && -f "$SCRIPT_SOURCE" ]]; then
    PIPED=0
    SCRIPT_DIR="$(cd -- "$(dirname -- "$SCRIPT_SOURCE")" && pwd)"
    REPO_DIR="$(dirname -- "$SCRIPT_DIR")"
    RUN_AS="sudo bash $0"
  else
    PIPED=1
    SCRIPT_DIR=""
    REPO_DIR=""
    RUN_AS="curl -fsSL …/install.sh | sudo bash -s --"
  fi
}

# http:// only to a loopback address (a local mirror, the tests): anywhere else the binary and SHA256SUMS would
# travel unprotected, and a checksum fetched over the same connection proves nothing.
check_base_url() {
  case "$BASE_URL" in
    https://?* | file://?*) ;;
    http://*)
      [[ "$BASE_URL" =~ ^http://(127\.[0-9]+\.[0-9]+\.[0-9]+|localhost|\[::1\])(:[0-9]+)?(/.*)?$ ]] ||
        usage_error "--base-url '$BASE_URL': plain http:// is refused (use https://, a file:// mirror, or http:// on a loopback address: 127.0.0.1, [::1], localhost)"
      ;;
    *) usage_error "--base-url '$BASE_URL' is not an https:// or file:// URL" ;;
  esac
}

parse_args() {
  PREFIX=/usr/local
  SERVICE_USER=contentflow-worker
  BINARY=""
  INITIAL_ENV=""
  START=1
  UNINSTALL=0
  PURGE=0
  ROOT="${DESTDIR:-}"
  RELEASE_VERSION=""
  BASE_URL="${CONTENTFLOW_WORKER_RELEASE_URL:-$DEFAULT_RELEASE_URL}"
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
  [[ $ROLLBACK -eq 0 || (-z "$RELEASE_VERSION" && -z "$BINARY" && $UNINSTALL -eq 0) ]] ||
    usage_error "--rollback goes alone (no --version, --binary or --uninstall)"
  if [[ $PIPED -eq 1 && -z "$RELEASE_VERSION" && $ROLLBACK -eq 0 && $UNINSTALL -eq 0 ]]; then
    usage_error "piped, install.sh installs a release (--version X.Y.Z|latest) or runs --rollback or --uninstall; to install a local binary, run the script from a file with its deploy/ templates beside it"
  fi
  if [[ -n "$RELEASE_VERSION" && "$RELEASE_VERSION" != latest ]]; then
    RELEASE_VERSION="${RELEASE_VERSION#v}"
    [[ "$RELEASE_VERSION" =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.+-]+)?$ ]] ||
      usage_error "--version '$RELEASE_VERSION' is not X.Y.Z or latest"
  fi
  [[ -z "$ARCH" || "$ARCH" =~ ^(x64|arm64)(-musl)?$ ]] || usage_error "--arch '$ARCH' is not x64, arm64, x64-musl or arm64-musl"
  BASE_URL="${BASE_URL%/}"
  check_base_url
  if [[ -n "$ROOT" ]]; then
    mkdir -p -- "$ROOT"
    ROOT="$(cd -- "$ROOT" && pwd)"
    [[ "$ROOT" != "/" ]] || ROOT=""
  fi
}

# Paths on the target system (what the unit refers to), templates, and whether systemctl can act.
setup() {
  if [[ -z "$ROOT" && "$(id -u)" -ne 0 ]]; then
    die "must run as root (try: $RUN_AS …); use --root DIR to stage the files into a directory instead"
  fi
  BIN_PATH="$PREFIX/bin/$SERVICE"
  CONFIG_DIR="/etc/$SERVICE"
  ENV_PATH="$CONFIG_DIR/env"
  UNIT_PATH="/etc/systemd/system/$SERVICE.service"
  STATE_DIR="/var/lib/$SERVICE"
  LOG_DIR="/var/log/$SERVICE"
  # Piped there is nothing beside the script: only the release's own templates (download_release) are used, never
  # a file that happens to lie in the current directory.
  UNIT_TEMPLATE=""
  ENV_TEMPLATE=""
  if [[ $PIPED -eq 0 ]]; then
    UNIT_TEMPLATE="$REPO_DIR/deploy/$SERVICE.service"
    ENV_TEMPLATE="$REPO_DIR/deploy/$SERVICE.env.template"
    [[ -f "$UNIT_TEMPLATE" ]] || UNIT_TEMPLATE="$SCRIPT_DIR/$SERVICE.service"
    [[ -f "$ENV_TEMPLATE" ]] || ENV_TEMPLATE="$SCRIPT_DIR/$SERVICE.env.template"
  fi

  # systemctl only when it can act: not when staging into --root, and only when systemd is the running init.
  USE_SYSTEMCTL=1
  if [[ -n "${INSTALL_SH_SYSTEMCTL:-}" ]]; then
    say "using $SYSTEMCTL as systemctl"
  elif [[ -n "$ROOT" ]]; then
    USE_SYSTEMCTL=0
    say "--root $ROOT: skipping user creation, ownership changes and systemctl"
  elif ! command -v systemctl >/dev/null 2>&1; then
    USE_SYSTEMCTL=0
    say "systemctl not found: skipping daemon-reload, enable and start"
  elif [[ ! -d /run/systemd/system ]]; then
    USE_SYSTEMCTL=0
    say "systemd is not the running init (no /run/systemd/system): skipping daemon-reload, enable and start"
  fi
}

unit_known() { "$SYSTEMCTL" cat "$SERVICE.service" >/dev/null 2>&1; }

uninstall() {
  if [[ $USE_SYSTEMCTL -eq 1 ]] && unit_known; then
    say "stopping and disabling $SERVICE (in-flight tasks get the drain timeout)"
    "$SYSTEMCTL" disable --now "$SERVICE.service" || say "warning: could not stop/disable $SERVICE"
  fi
  if [[ -e "$ROOT$UNIT_PATH" ]]; then
    rm -f -- "$ROOT$UNIT_PATH"
    say "removed $UNIT_PATH"
  fi
  if [[ $USE_SYSTEMCTL -eq 1 ]]; then
    "$SYSTEMCTL" daemon-reload
    "$SYSTEMCTL" reset-failed "$SERVICE.service" >/dev/null 2>&1 || true
  fi
  if [[ -e "$ROOT$BIN_PATH" ]]; then
    rm -f -- "$ROOT$BIN_PATH"
    say "removed $BIN_PATH"
  fi
  if [[ $PURGE -eq 1 && -e "$ROOT$BIN_PATH.previous" ]]; then
    rm -f -- "$ROOT$BIN_PATH.previous"
    say "removed $BIN_PATH.previous"
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
  elif [[ -e "$ROOT$BIN_PATH.previous" ]]; then
    say "kept $CONFIG_DIR, user $SERVICE_USER and $BIN_PATH.previous (add --purge to remove them)"
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
# Redirects are followed only to https:// (GitHub sends release assets to another https host); the first request
# keeps the scheme check_base_url allowed.
fetch() {
  local url="$1" out="$2" first
  case "$url" in
    https://*) first="=https" ;;
    http://*) first="=http" ;;
    *) first="=file" ;;
  esac
  if command -v curl >/dev/null 2>&1; then
    curl --fail --silent --show-error --location --proto "$first" --proto-redir =https --retry 2 \
      --connect-timeout 20 --max-time 900 -o "$out" "$url" </dev/null
  elif command -v wget >/dev/null 2>&1; then
    # wget has no redirect protocol filter: read its log, and throw the file away if any hop was plain http.
    local log="$out.wget-log" rc=0
    wget --tries=3 --timeout=20 --server-response -o "$log" -O "$out" "$url" </dev/null || rc=$?
    if grep -qE '^Location: http://' "$log"; then
      rm -f -- "$out" "$log"
      printf '%s\n' "install.sh: $url redirected to plain http://; refused" >&2
      return 1
    fi
    [[ $rc -eq 0 ]] || grep -E 'ERROR|failed|error' "$log" | tail -n 2 >&2 || true
    rm -f -- "$log"
    return "$rc"
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
  local release_dir="${asset_url%/*}"
  # The unit and env template of the same release, verified like the binary. Piped, there is nothing else to take;
  # run from a file, the ones beside it serve only a release that does not publish its own.
  local file local_copy
  for file in "$SERVICE.service" "$SERVICE.env.template"; do
    expected="$(grep -E "^[0-9a-f]{64}  $file\$" "$dir/SHA256SUMS" | cut -d' ' -f1 | head -n 1 || true)"
    if [[ "$file" == *.service ]]; then local_copy="$UNIT_TEMPLATE"; else local_copy="$ENV_TEMPLATE"; fi
    if [[ -z "$expected" ]]; then
      [[ -n "$local_copy" && -f "$local_copy" ]] ||
        die "release ${version} has no $file in SHA256SUMS, and none lies beside install.sh; nothing was changed"
      say "release ${version} has no $file; using $local_copy"
      continue
    fi
    fetch "$release_dir/$file" "$dir/$file" || die "could not download $release_dir/$file; nothing was changed"
    actual="$(sha256_of "$dir/$file")"
    [[ "$actual" == "$expected" ]] ||
      die "checksum mismatch for $file: SHA256SUMS says $expected, the download is $actual; nothing was changed"
    if [[ "$file" == *.service ]]; then UNIT_TEMPLATE="$dir/$file"; else ENV_TEMPLATE="$dir/$file"; fi
  done
  say "checksums verified: $SERVICE.service and $SERVICE.env.template of the release (or the local ones named above)"
}

# Swaps the installed binary and .previous (each replaced by a rename, so the path never points at a partial file).
swap_binaries() {
  local dest="$ROOT$BIN_PATH" previous="$ROOT$BIN_PATH.previous"
  local new="$dest.new.$$" old="$previous.new.$$"
  install -m 0755 -- "$previous" "$new"
  if [[ -f "$dest" ]]; then cp -p -- "$dest" "$old"; fi
  mv -f -- "$new" "$dest"
  if [[ -f "$old" ]]; then mv -f -- "$old" "$previous"; fi
}

# --rollback: a swap of the binary with .previous (run it again to swap back). The unit stays as it is, so no
# template is needed (piped included).
rollback() {
  [[ -f "$ROOT$BIN_PATH.previous" ]] || die "no previous binary at $BIN_PATH.previous (nothing to roll back to)"
  "$ROOT$BIN_PATH.previous" version </dev/null >/dev/null 2>&1 || die "$BIN_PATH.previous does not run; not rolling back"
  swap_binaries
  say "rolled back: $BIN_PATH is the previous binary again (the replaced one is now $BIN_PATH.previous; --rollback again swaps back)"
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
    KEPT_PREVIOUS=1
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
  if [[ -f "$dest" ]]; then
    OLD_UNIT="$(cat -- "$dest")"
  fi
  printf '%s\n' "$rendered" >"$dest.new.$$"
  chmod 0644 -- "$dest.new.$$"
  mv -f -- "$dest.new.$$" "$dest"
  UNIT_CHANGED=1
  say "installed unit $UNIT_PATH"
}

# The service did not come back after this run changed it: put back what the run replaced (binary, unit), start
# that, and fail saying so.
restart_failed() {
  local undo=()
  [[ $ROLLBACK -eq 1 || $KEPT_PREVIOUS -eq 0 ]] || undo+=("binary")
  [[ $UNIT_CHANGED -eq 0 || -z "$OLD_UNIT" ]] || undo+=("unit")
  if [[ ${#undo[@]} -eq 0 ]]; then
    die "$SERVICE did not start; see: journalctl -u $SERVICE -n 50 --no-pager"
  fi
  printf '%s\n' "install.sh: $SERVICE did not start after the upgrade; rolling back (${undo[*]})" >&2
  if [[ " ${undo[*]} " == *" binary "* ]]; then
    swap_binaries
    say "rolled back: $BIN_PATH is the previous binary again (the one that failed is kept as $BIN_PATH.previous)"
  fi
  if [[ " ${undo[*]} " == *" unit "* ]]; then
    printf '%s\n' "$OLD_UNIT" >"$ROOT$UNIT_PATH.new.$$"
    chmod 0644 -- "$ROOT$UNIT_PATH.new.$$"
    mv -f -- "$ROOT$UNIT_PATH.new.$$" "$ROOT$UNIT_PATH"
    say "rolled back: $UNIT_PATH is the previous unit again"
  fi
  "$SYSTEMCTL" daemon-reload
  if "$SYSTEMCTL" restart "$SERVICE.service"; then
    die "upgrade failed: $SERVICE did not start with the new ${undo[*]}; it was rolled back and runs the previous one again; see: journalctl -u $SERVICE -n 50 --no-pager"
  fi
  die "upgrade failed: $SERVICE did not start with the new ${undo[*]}, nor after the rollback; see: journalctl -u $SERVICE -n 50 --no-pager"
}

start_service() {
  if [[ $USE_SYSTEMCTL -eq 0 ]]; then
    say "not enabling or starting $SERVICE (no systemctl here); on the target run: systemctl daemon-reload && systemctl enable --now $SERVICE"
    return
  fi
  "$SYSTEMCTL" daemon-reload
  "$SYSTEMCTL" enable "$SERVICE.service" >/dev/null
  say "enabled $SERVICE (starts at boot)"
  if [[ $START -eq 0 ]]; then
    say "--no-start: not starting; run: systemctl start $SERVICE"
  elif [[ $ENV_CREATED -eq 1 && -z "$INITIAL_ENV" ]]; then
    say "not starting yet: edit $ENV_PATH, then run: systemctl start $SERVICE"
  elif "$SYSTEMCTL" is-active --quiet "$SERVICE.service"; then
    if [[ $BINARY_CHANGED -eq 1 || $UNIT_CHANGED -eq 1 ]]; then
      say "restarting $SERVICE (in-flight tasks drain first; unfinished messages return to the queue)"
      "$SYSTEMCTL" restart "$SERVICE.service" || restart_failed
    else
      say "$SERVICE is running and nothing changed"
    fi
  else
    say "starting $SERVICE (waits for READY=1 from the supervisor)"
    "$SYSTEMCTL" start "$SERVICE.service" ||
      die "start failed; see: journalctl -u $SERVICE -n 50 --no-pager (install.sh --rollback puts back the previous binary, if any)"
  fi
  if [[ $START -eq 1 ]]; then
    say "check it with: systemctl status $SERVICE; journalctl -u $SERVICE -f -o cat; $BIN_PATH status"
  fi
}

main() {
  detect_source
  parse_args "$@"
  setup
  if [[ $UNINSTALL -eq 1 ]]; then
    uninstall
    exit 0
  fi
  BINARY_CHANGED=0
  KEPT_PREVIOUS=0
  UNIT_CHANGED=0
  OLD_UNIT=""
  ENV_CREATED=0
  DOWNLOAD_DIR=""
  trap '[[ -z "$DOWNLOAD_DIR" ]] || rm -rf -- "$DOWNLOAD_DIR"' EXIT
  if [[ $ROLLBACK -eq 1 ]]; then
    rollback
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
}

main "$@"
