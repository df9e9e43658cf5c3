#!/usr/bin/env bash
# Writes deploy/.env with random secrets for the compose stack (development only), unless
# it exists. Git ignores the file; production secrets come from the bank's vault instead.
set -euo pipefail
env_file="$(dirname "$0")/.env"
if [[ -e "$env_file" ]]; then
  echo "$env_file exists; delete it to make new secrets" >&2
  exit 0
fi
rand() { python3 -c "import secrets; print(secrets.token_urlsafe($1))"; }
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
ENV
echo "wrote $env_file"
