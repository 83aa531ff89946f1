#!/usr/bin/env bash
# Validates docker-compose.yml without a Docker engine: against the Compose specification's
# JSON schema (from the dclint npm package) with check-jsonschema (PyPI), and checks that every
# IDBROKER_* variable the compose file sets is one idbroker reads.
set -euo pipefail
cd "$(dirname "$0")/.."
tools=target/test-tools
mkdir -p "$tools"

if [ ! -x "$tools/check-jsonschema/bin/check-jsonschema" ]; then
  python3 -m venv "$tools/check-jsonschema"
  "$tools/check-jsonschema/bin/pip" install --quiet --disable-pip-version-check "check-jsonschema==0.39.0"
fi
schema="$tools/dclint/package/schemas/compose.schema.json"
if [ ! -f "$schema" ]; then
  mkdir -p "$tools/dclint"
  (cd "$tools/dclint" && npm pack --silent dclint@3.1.0 >/dev/null && tar xzf dclint-3.1.0.tgz)
fi
"$tools/check-jsonschema/bin/check-jsonschema" --schemafile "$schema" docker-compose.yml

# Every IDBROKER_ setting the compose file passes must be one the code reads.
known=$(grep -rhoE '"IDBROKER_[A-Z_]+"' crates/idbroker/src | tr -d '"' | sort -u)
unknown=0
for var in $(grep -oE '^\s+IDBROKER_[A-Z_]+:' docker-compose.yml | tr -d ' :' | sort -u); do
  if ! grep -qx "$var" <<<"$known"; then
    echo "docker-compose.yml sets $var, which idbroker does not read" >&2
    unknown=1
  fi
done
exit $unknown
