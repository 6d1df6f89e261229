#!/usr/bin/env bash
# `make smoke URL=https://learn.example.org`: after a deploy, does the site answer? The pages,
# OpenID Connect discovery, and a registration (of SES's mailbox simulator address, which takes
# mail even in the SES sandbox): a 202 means its activation mail is on the mail queue (the
# service answers only once the message is queued). Uses curl and python3; no AWS access.
set -euo pipefail
url=${1:?usage: smoke.sh https://learn.example.org}
url=${url%/}
address=${SMOKE_EMAIL:-success+smoke-$(date +%s)@simulator.amazonses.com}
failures=0
check() { # name, expected status, actual status
  if [[ "$3" == "$2" ]]; then
    echo "ok    $1 ($3)"
  else
    echo "FAIL  $1: expected $2, got $3" >&2
    failures=$((failures + 1))
  fi
}
status() { curl -s -o /dev/null -w '%{http_code}' --max-time 30 "$@" || echo "no answer"; }

for page in / /register /login /password-reset; do
  check "page $page" 200 "$(status "$url$page")"
done
discovery=$(curl -s --max-time 30 "$url/.well-known/openid-configuration" || true)
issuer=$(printf '%s' "$discovery" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("issuer",""))' 2>/dev/null || true)
check "OIDC discovery: issuer is $url" "$url" "${issuer:-none}"
username="smoke$(date +%s)"
body=$(printf '{"email":"%s","username":"%s","name":"Smoke Test","password":"quiet lantern harbour %s orchard","terms_accepted":true}' \
  "$address" "$username" "$RANDOM")
answer=$(curl -s --max-time 30 -w '\n%{http_code}' -H 'content-type: application/json' --data "$body" "$url/api/v1/registrations" || true)
check "registration of $address (its mail queued)" 202 "$(printf '%s' "$answer" | tail -n 1)"
[[ "$(printf '%s' "$answer" | tail -n 1)" == 202 ]] || printf '      answer: %s\n' "$(printf '%s' "$answer" | head -n 1 | cut -c1-300)" >&2
if [[ $failures -gt 0 ]]; then
  echo "smoke: $failures check(s) failed" >&2
  exit 1
fi
echo "smoke: all answered"
