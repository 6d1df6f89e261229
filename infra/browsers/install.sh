#!/usr/bin/env bash
# What the browser suite needs, installed when missing: Debian's headless Chromium and its
# WebDriver (packages chromium, chromium-driver), and axe-core from npm (tests/browser, pinned
# by its package-lock.json). Fails with a clear message when it cannot install them; the suite
# itself then fails too (it never skips).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"

fail() {
  echo "error: $1" >&2
  echo "       The browser suite needs chromium, chromedriver and axe-core; install them by hand:" >&2
  echo "       apt-get install chromium chromium-driver nodejs npm && npm ci --prefix tests/browser" >&2
  exit 1
}

apt_install() {
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || fail "not root and no sudo: cannot apt-get install $*"
    sudo="sudo"
  fi
  command -v apt-get >/dev/null || fail "no apt-get on this machine to install $*"
  echo "installing $* (Debian packages)..." >&2
  $sudo apt-get update -qq >/dev/null || fail "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null \
    || fail "apt-get install $* failed"
}

if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  apt_install chromium chromium-driver
fi
command -v chromium >/dev/null || fail "chromium is still missing after installing it"
command -v chromedriver >/dev/null || fail "chromedriver is still missing after installing it"

if [ ! -f "$root/tests/browser/node_modules/axe-core/axe.min.js" ]; then
  command -v npm >/dev/null || apt_install nodejs npm
  npm ci --prefix "$root/tests/browser" --no-audit --no-fund --loglevel=error >/dev/null \
    || fail "npm ci in tests/browser failed (axe-core)"
fi
echo "browsers: $(chromium --version 2>/dev/null | head -n 1); $(chromedriver --version | head -n 1 | cut -d' ' -f1-2); axe-core $(node -p "require('$root/tests/browser/node_modules/axe-core/package.json').version" 2>/dev/null)" >&2
