#!/usr/bin/env bash
# `make deploy`: `sam deploy` without questions, from the parameters `make deploy-guided` saved
# in samconfig.toml, with Architecture set to what `make build` built (a saved one may differ).
# Arguments `Name=value` change saved parameters for this deploy and save them (`sam deploy
# --save-params`): `make deploy PARAMS='SandboxRecipients=""'`.
set -euo pipefail
cd "$(dirname "$0")/../.."
sam=${SAM:-.venv/bin/sam}
# samconfig.toml is read with tomllib: Python 3.11 or later in the virtualenv.
if ! .venv/bin/python -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
  found=$(.venv/bin/python --version 2>&1 || echo "no .venv/bin/python")
  echo "deploy: needs Python 3.11 or later in .venv (it reads samconfig.toml with tomllib); found: $found." >&2
  echo "deploy: install python3.11 (or later), then: rm -rf .venv && make venv PYTHON=python3.11" >&2
  exit 2
fi
if [[ ! -f samconfig.toml ]]; then
  echo "deploy: no samconfig.toml yet; run 'make deploy-guided' once (it asks, then saves the answers)" >&2
  exit 2
fi
arch=$(cat target/lambda/ARCH 2>/dev/null || true)
if [[ "$arch" != arm64 && "$arch" != x86_64 ]]; then
  echo "deploy: nothing built; run 'make build' (ARCH=arm64 or ARCH=x86_64)" >&2
  exit 2
fi
# The saved overrides, with Architecture replaced; each value quoted again for SAM's parser.
overrides=$(.venv/bin/python - "$arch" "$@" <<'PY'
import shlex, sys, tomllib
with open("samconfig.toml", "rb") as f:
    config = tomllib.load(f)
saved = config.get("default", {}).get("deploy", {}).get("parameters", {}).get("parameter_overrides", "")
if isinstance(saved, list):
    saved = " ".join(saved)
pairs = [item.split("=", 1) for item in shlex.split(saved) if "=" in item]
changed = dict(item.split("=", 1) for item in sys.argv[2:] if "=" in item)
for item in sys.argv[2:]:
    if "=" not in item:
        sys.exit("deploy: a changed parameter is Name=value, got {!r}".format(item))
pairs = [(k, changed.pop(k, v)) for k, v in pairs if k != "Architecture"] + sorted(changed.items())
pairs = [(k, v) for k, v in pairs if k != "Architecture"] + [("Architecture", sys.argv[1])]
print(" ".join('{}="{}"'.format(k, v.replace('"', '\\"')) for k, v in pairs))
PY
)
save=()
if [[ $# -gt 0 ]]; then
  save=(--save-params)
  echo "deploy: changing and saving $*"
fi
echo "deploy: Architecture=$arch"
SAM_CLI_TELEMETRY=0 exec "$sam" deploy --template-file template.yaml --no-confirm-changeset \
  --no-fail-on-empty-changeset --capabilities CAPABILITY_IAM "${save[@]}" --parameter-overrides "$overrides"
