#!/usr/bin/env bash
# `make deploy`: `sam deploy` without questions, from the parameters `make deploy-guided` saved
# in samconfig.toml, with Architecture set to what `make build` built (a saved one may differ).
set -euo pipefail
cd "$(dirname "$0")/../.."
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
overrides=$(.venv/bin/python - "$arch" <<'PY'
import shlex, sys, tomllib
with open("samconfig.toml", "rb") as f:
    config = tomllib.load(f)
saved = config.get("default", {}).get("deploy", {}).get("parameters", {}).get("parameter_overrides", "")
if isinstance(saved, list):
    saved = " ".join(saved)
pairs = [item.split("=", 1) for item in shlex.split(saved) if "=" in item]
pairs = [(k, v) for k, v in pairs if k != "Architecture"] + [("Architecture", sys.argv[1])]
print(" ".join('{}="{}"'.format(k, v.replace('"', '\\"')) for k, v in pairs))
PY
)
echo "deploy: Architecture=$arch"
SAM_CLI_TELEMETRY=0 exec .venv/bin/sam deploy --template-file template.yaml --no-confirm-changeset \
  --no-fail-on-empty-changeset --capabilities CAPABILITY_IAM --parameter-overrides "$overrides"
