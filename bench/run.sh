#!/usr/bin/env bash
# Load benchmark: idbroker (release build) on PostgreSQL, driven by wrk on loopback, beside
# raw reference figures measured in the same run on the same machine (pgbench -S, openssl
# speed rsa2048). Usage: bench/run.sh [--smoke]
#   BENCH_DURATION (default 15s; 2s with --smoke), BENCH_CONNECTIONS (default 16),
#   IDBROKER_BENCH_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/postgres).
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${BENCH_DURATION:-15s}
[ "${1:-}" = "--smoke" ] && duration=2s
connections=${BENCH_CONNECTIONS:-16}
admin_url=${IDBROKER_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
base_url=${admin_url%/*}
db="idbroker_bench_$$"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
pid=""

cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null
  psql "$admin_url" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  psql "$admin_url" -qc "DROP DATABASE IF EXISTS ${db}_pgbench WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release --locked -p idbroker >/dev/null 2>&1
psql "$admin_url" -qc "CREATE DATABASE $db" >/dev/null

IDBROKER_DATABASE_URL="$base_url/$db" IDBROKER_LISTEN="127.0.0.1:$port" \
IDBROKER_ADMIN_ACCESS_KEY_ID=AKIDBENCH0000000 IDBROKER_ADMIN_SECRET_ACCESS_KEY=bench-secret-0123456789 \
IDBROKER_ADMIN_TOKEN=bench-admin-token-0123 IDBROKER_MASTER_KEY=$(openssl rand -base64 32) \
IDBROKER_SIGNING_ALG=${BENCH_SIGNING_ALG:-RS256} IDBROKER_RATE_LIMIT_PER_IP=0 IDBROKER_RATE_LIMIT_PER_POOL=0 RUST_LOG=warn target/release/idbroker serve >/tmp/idbroker-bench.log 2>&1 &
pid=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done

url="http://127.0.0.1:$port"
auth="Authorization: Bearer bench-admin-token-0123"
pool=$(curl -sf -X POST "$url/v1/identity-pools" -H "$auth" -H 'content-type: application/json' \
  -d '{"IdentityPoolName": "bench", "AllowUnauthenticatedIdentities": true}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["IdentityPoolId"])')
identity=$(curl -sf -X POST "$url/v1/identity-pools/$pool/identities" | python3 -c 'import json,sys; print(json.load(sys.stdin)["identity_id"])')

results=()
measure() { # name, then wrk arguments
  local name=$1; shift
  local out rps p50 p99
  out=$(wrk -t2 -c"$connections" -d"$duration" --latency "$@")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  if grep -q "Non-2xx" <<<"$out"; then echo "warning: $name had non-2xx answers: $(grep Non-2xx <<<"$out")" >&2; fi
  results+=("$name|$rps|$p50|$p99")
}

BENCH_TARGET=GetId BENCH_BODY="{\"IdentityPoolId\": \"$pool\"}" measure "GetId (new guest each call)" -s bench/post.lua "$url/"
BENCH_TARGET=GetOpenIdToken BENCH_BODY="{\"IdentityId\": \"$identity\"}" measure "GetOpenIdToken (${BENCH_SIGNING_ALG:-RS256})" -s bench/post.lua "$url/"
measure "DescribeIdentity (REST)" -H "$auth" "$url/v1/identities/$identity"
measure "JWKS" "$url/.well-known/jwks.json"
identities=$(psql "$base_url/$db" -Atc "SELECT count(*) FROM identities")
rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")

# Reference figures, same machine, same run.
psql "$admin_url" -qc "CREATE DATABASE ${db}_pgbench" >/dev/null
pgbench -i -q -s 10 "$base_url/${db}_pgbench" >/dev/null 2>&1
pgbench_tps=$(pgbench -S -c "$connections" -j 2 -T "${duration%s}" "$base_url/${db}_pgbench" 2>/dev/null | awk '/^tps/ {print $3; exit}')
rsa_sign=$(openssl speed -seconds "${duration%s}" rsa2048 2>/dev/null | awk '/^rsa 2048/ {print $6}')

echo
echo "idbroker $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) cores, $connections connections, $duration per run"
printf '%-30s %10s %10s %10s\n' "operation" "req/s" "p50" "p99"
for r in "${results[@]}"; do IFS='|' read -r n rps p50 p99 <<<"$r"; printf '%-30s %10s %10s %10s\n' "$n" "$rps" "$p50" "$p99"; done
echo
echo "identities in the database after the run: $identities"
echo "peak RSS of idbroker: $((rss_kb / 1024)) MiB"
echo "pgbench -S: $pgbench_tps TPS; openssl speed rsa2048: $rsa_sign sign/s (one core)"
python3 - "$pgbench_tps" "$rsa_sign" "${results[@]}" <<'PY'
import sys
pg, rsa = float(sys.argv[1] or 0), float(sys.argv[2] or 0)
rows = {r.split('|')[0]: float(r.split('|')[1] or 0) for r in sys.argv[3:]}
guest = rows.get("GetId (new guest each call)", 0)
token = next((v for k, v in rows.items() if k.startswith("GetOpenIdToken")), 0)
if pg: print(f"GetId (guest) / pgbench -S TPS = {guest / pg:.2f}")
if rsa: print(f"GetOpenIdToken / single-core RSA-2048 sign/s = {token / rsa:.2f}")
PY
