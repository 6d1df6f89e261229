# The two commands that matter: `make dev` (run everything locally) and `make test`.
# Python tools (moto server, cfn-lint, SAM CLI, cargo-lambda) are installed into ./.venv on
# first use; the browser suite's Chromium, chromedriver (Debian packages) and axe-core (npm)
# are installed by `make browsers` when missing. Nothing else is assumed but cargo and python3.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
VENV := .venv
PY := $(VENV)/bin/python
# The Python that makes ./.venv: 3.11 or later for `make deploy` (tomllib).
PYTHON ?= python3
MOTO_STAMP := $(VENV)/.moto-installed
TOOLS_STAMP := $(VENV)/.tools-installed
FUZZ_STAMP := $(VENV)/.schemathesis-installed
# Open edX's own OpenID Connect client (python-social-auth), driven by tests/suite/oidc_social.rs.
OIDC_STAMP := $(VENV)/.social-auth-installed
PIP := $(PY) -m pip install --quiet --disable-pip-version-check
# The architecture: as given, else the one `make build` built last (so `make deploy` after
# `make build ARCH=x86_64` deploys x86_64), else arm64.
ARCH ?= $(shell cat target/lambda/ARCH 2>/dev/null || echo arm64)
# SAM CLI (pinned in infra/tools/requirements.txt); tests put a stand-in here.
SAM ?= $(VENV)/bin/sam
RUST_TARGET := $(if $(filter x86_64,$(ARCH)),x86_64,aarch64)-unknown-linux-gnu
PORT ?= 3000
# The Lambda functions: one package per directory, named after it.
FUNCTIONS := $(notdir $(wildcard functions/*))

.PHONY: dev dev-moto test test-large browsers screenshots lint build bench deploy deploy-guided smoke venv tools clean

## dev: every function behind one local gateway on 127.0.0.1:$(PORT), in-memory backend.
dev:
	cargo run --quiet -p learners-gateway --bin learners-dev

## dev-moto: the same gateway on the AWS adapters, against a moto server it starts.
dev-moto: $(MOTO_STAMP)
	mkdir -p target
	cargo build --quiet -p learners-gateway --bin learners-dev
	infra/moto/with-moto.sh bash -c 'eval "$$(target/debug/learners-dev provision | sed "s/^/export /")" && LEARNERS_BACKEND=aws target/debug/learners-dev'

## test: unit, contract (in-memory and DynamoDB/SQS/SES on moto), end-to-end and browser tests.
test: $(MOTO_STAMP) $(FUZZ_STAMP) $(OIDC_STAMP) browsers
	mkdir -p target
	infra/moto/with-moto.sh cargo test --workspace --quiet

## test-large: the million-row file through `learnerctl bulk-register` against a gateway on the
## memory backend (about 50 MB, exact counts; a few minutes in the debug build, so not in `test`).
test-large:
	cargo test -p learnerctl --test cli -- --ignored --nocapture a_million_rows

## browsers: headless Chromium and chromedriver (Debian packages) and axe-core (npm), if missing.
browsers:
	infra/browsers/install.sh

## screenshots: the browser suite (memory backend) writing every page at two widths to docs/screenshots.
screenshots: $(MOTO_STAMP) browsers
	mkdir -p target docs/screenshots
	LEARNERS_SCREENSHOTS=$(CURDIR)/docs/screenshots infra/moto/with-moto.sh \
	  cargo test --quiet -p learners-tests --test browser -- memory

## lint: rustfmt, clippy (-D warnings), cfn-lint and `sam validate --lint`, all offline.
lint: $(TOOLS_STAMP)
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --quiet -- -D warnings
	$(VENV)/bin/cfn-lint template.yaml
	SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=us-east-1 $(VENV)/bin/sam validate --lint --template-file template.yaml

## build: every function's Lambda binary for $(ARCH) (arm64 or x86_64), in one cargo invocation
## (cargo-lambda, zig as the cross linker): target/lambda/<function>/bootstrap, which the
## template's CodeUri names. The architecture built is kept for `make deploy`.
build: $(TOOLS_STAMP)
	rustup target add $(RUST_TARGET) >/dev/null
	rm -rf .aws-sam
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" cargo lambda build --release --target $(RUST_TARGET) $(addprefix -p ,$(FUNCTIONS))
	echo $(ARCH) > target/lambda/ARCH
	@ls -l target/lambda/*/bootstrap | awk '{printf "%8.1f MB  %s\n", $$5 / 1e6, $$9}'

## bench: throughput, memory and cold-start figures (a report, not a test), in-memory and on moto.
## The functions are built with it, in one invocation (one feature set, one build), for the
## cold-start probe; `target/release/learners-bench coldstart` then runs that part alone (cargo
## puts the bench profile's binaries in target/release).
bench: $(MOTO_STAMP)
	mkdir -p target
	cargo build --quiet --profile bench $(addprefix -p ,$(FUNCTIONS)) -p learners-bench
	infra/moto/with-moto.sh target/release/learners-bench

## deploy: builds, then deploys without a question, with the parameters saved in samconfig.toml
## and the architecture just built. PARAMS='Name=value ...' changes saved parameters (and saves them).
deploy: build
	SAM="$(SAM)" infra/tools/deploy.sh $(PARAMS)

## deploy-guided: the first deployment: asks for every parameter, then saves them in samconfig.toml.
## Its answers, question by question: docs/deploying.md#the-questions-of-make-deploy-guided.
deploy-guided: build
	SAM_CLI_TELEMETRY=0 $(SAM) deploy --guided --template-file template.yaml \
	  --capabilities CAPABILITY_IAM --parameter-overrides Architecture=$(ARCH)

## smoke: after a deploy, URL=https://... : the pages, OIDC discovery and a registration answer.
smoke:
	@test -n "$(URL)" || { echo "smoke: give the site's address: make smoke URL=https://learn.example.org" >&2; exit 2; }
	infra/tools/smoke.sh "$(URL)"

venv: $(MOTO_STAMP)
tools: $(TOOLS_STAMP)

$(MOTO_STAMP): infra/moto/requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) -r infra/moto/requirements.txt
	touch $@

$(OIDC_STAMP): infra/oidc/requirements.txt | $(MOTO_STAMP)
	$(PIP) -r infra/oidc/requirements.txt
	touch $@

$(FUZZ_STAMP): infra/schemathesis/requirements.txt | $(MOTO_STAMP)
	$(PIP) -r infra/schemathesis/requirements.txt
	touch $@

$(TOOLS_STAMP): infra/tools/requirements.txt | $(MOTO_STAMP)
	$(PIP) -r infra/tools/requirements.txt
	touch $@

clean:
	cargo clean
	rm -rf $(VENV) .aws-sam
