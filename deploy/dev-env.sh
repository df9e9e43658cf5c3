#!/usr/bin/env bash
# Writes deploy/.env with random secrets for the compose stack (development only), unless
# it exists. Git ignores the file; production secrets come from the bank's vault instead.
set -euo pipefail
env_file="$(dirname "$0")/.env"
rand() { python3 -c "import secrets; print(secrets.token_urlsafe($1))"; }
if [[ -e "$env_file" ]]; then
  # A file from before the metrics token: add it, keep the rest.
  if ! grep -q '^GREENSCORE_METRICS_TOKEN=' "$env_file"; then
    echo "GREENSCORE_METRICS_TOKEN=$(rand 32)" >>"$env_file"
    echo "added GREENSCORE_METRICS_TOKEN to $env_file"
  fi
  echo "$env_file exists; delete it to make new secrets" >&2
  exit 0
fi
# The master key: 32 random bytes as hex (a key, not a passphrase).
key() { python3 -c "import secrets; print(secrets.token_hex(32))"; }
umask 077
cat >"$env_file" <<ENV
POSTGRES_PASSWORD=$(rand 24)
REDIS_PASSWORD=$(rand 24)
GREENSCORE_JWT_SECRET=$(rand 48)
GREENSCORE_AUDIT_PEPPER=$(rand 32)
GREENSCORE_MASTER_KEY=$(key)
GRAFANA_ADMIN_PASSWORD=$(rand 16)
GREENSCORE_METRICS_TOKEN=$(rand 32)
ENV
echo "wrote $env_file"
