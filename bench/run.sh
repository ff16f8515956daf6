#!/usr/bin/env bash
# The load benchmark of BENCHMARKS.md, in one run on one machine (CI does not run it):
#   an HTTPS upstream (nginx) serving a token-endpoint-sized JSON and a static file, then wrk
#   against it directly, through oidc-tap (capture, analysis and --trace on), through nginx as a
#   TLS reverse proxy, and through mitmdump --mode reverse when it can be installed.
# Prints req/s, p50, p99 per path and proxy, the ratios, the CPU each spends per request
# (oidc-tap's forwarding and analysis apart), oidc-tap's capture counters and RSS; then the
# latency of each when not saturated (one connection, LAT_CONNS=0 skips it).
#
#   bash bench/run.sh            # 10 s per measurement, 16 connections, 2 wrk threads, the
#                                # median of 3 rounds (ROUNDS=1 for a quick look)
#   DURATION=30 CONNS=32 bash bench/run.sh
#   PERF=1 TAP_ARGS=--no-redact bash bench/run.sh   # with a perf profile of oidc-tap per path
#   The paths: `token` (every request a login step), `static` (a 64 KiB file) and `mix`, an
#   authentik-shaped mix per 100 requests: 55 static assets (4-16 KiB), 25 API calls (small
#   JSON), 15 flow pages and executor calls, 5 login steps (discovery, JWKS, token, userinfo).
#   oidc-tap runs with analysis, --trace, --metrics and --otlp (to a local sink) on
#   (TELEMETRY_ARGS= runs it without the last two).
#   bash bench/run.sh soak       # 1,000,000 requests through oidc-tap (--trace on): discovery,
#                                # token calls, static files, a 10 MB body every 2,000th; RSS
#                                # at start, then every 10 s to the end
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=${1:-compare}
DURATION=${DURATION:-10}
SOAK_REQUESTS=${SOAK_REQUESTS:-1000000}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-16}
THREADS=${THREADS:-2}
LAT_CONNS=${LAT_CONNS:-1}   # 0: skip the unsaturated latency cells
WORK=$(mktemp -d /tmp/oidc-tap-bench.XXXXXX)
# On exit: stop what was started and remove the work folder (a soak's journal is 2 GB).
trap 'kill $(jobs -p) 2>/dev/null || true; [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null; [ -f "$WORK/rp.pid" ] && kill "$(cat "$WORK/rp.pid")" 2>/dev/null; sleep 0.5; rm -rf "$WORK"; true' EXIT

need() { command -v "$1" >/dev/null || [ -x "/usr/sbin/$1" ]; }
sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
if ! need wrk || ! need nginx; then
  echo "== installing wrk and nginx from Debian"
  $sudo apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends wrk nginx-light >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

# TAP_BIN=path: measure that binary (say, another commit's build) instead of this tree's.
if [ -n "${TAP_BIN:-}" ]; then
  TAP=$TAP_BIN
else
  echo "== building oidc-tap (release)"
  cargo build --release -q
  TAP=target/release/oidc-tap
fi

# mitmdump from PyPI, in a venv of its own (skipped when it cannot be installed).
MITM=""
if [ -x target/bench-venv/bin/mitmdump ]; then
  MITM=target/bench-venv/bin/mitmdump
elif python3 -m venv target/bench-venv >/dev/null 2>&1 && target/bench-venv/bin/pip install -q mitmproxy >/dev/null 2>&1; then
  MITM=target/bench-venv/bin/mitmdump
else
  echo "   (mitmproxy could not be installed: its column stays empty)"
fi

UP=18443; RP=18444; TP=18445; MP=18446
# Certificates: one dev CA; the upstream's and both proxies' leaves for 127.0.0.1.
$TAP certs init --dir "$WORK/certs" --host 127.0.0.1 --host localhost >/dev/null

# The upstream: a token response the size of authentik's (RS256 ID token, ~2 KB) and a
# 64 KiB static file, over TLS with keep-alive.
mkdir -p "$WORK/www/static"
dd if=/dev/urandom bs=49152 count=1 2>/dev/null | base64 -w 76 > "$WORK/www/static/app.js"
TOKEN_JSON=$(TP=$TP python3 - <<'EOF'
import base64, json, os
b = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()
h = b({"alg": "RS256", "kid": "bench", "typ": "JWT"})
c = b({"iss": f"https://127.0.0.1:{os.environ['TP']}/application/o/mastodon/", "sub": "a" * 64, "aud": "bench-client",
       "exp": 4102444800, "iat": 1700000000, "auth_time": 1700000000, "nonce": "n" * 32,
       "email": "alice@example.test", "email_verified": True, "name": "Alice Example",
       "preferred_username": "alice", "groups": []})
sig = base64.urlsafe_b64encode(b"s" * 256).rstrip(b"=").decode()
print(json.dumps({"access_token": "A" * 400, "token_type": "Bearer", "scope": "openid profile email",
                  "expires_in": 3600, "id_token": f"{h}.{c}.{sig}"}))
EOF
)
printf '%s' "$TOKEN_JSON" > "$WORK/www/token.json"
mkdir -p "$WORK/www/application/o/mastodon/.well-known"
# The provider as Mastodon reaches it: through oidc-tap (so the soak's discovery teaches
# analysis the endpoints the token calls go to, as in a real deployment).
I="https://127.0.0.1:$TP/application/o"
cat > "$WORK/www/application/o/mastodon/.well-known/openid-configuration" <<EOF
{"issuer":"$I/mastodon/","authorization_endpoint":"$I/authorize/","token_endpoint":"$I/token/","userinfo_endpoint":"$I/userinfo/","jwks_uri":"$I/mastodon/jwks/","response_types_supported":["code"],"subject_types_supported":["public"],"id_token_signing_alg_values_supported":["RS256"],"scopes_supported":["openid","email","profile"]}
EOF
head -c 10485760 /dev/zero > "$WORK/www/static/big.bin"
# authentik's own traffic: its SPA's assets, API answers, flow pages (the mix's 95 %).
mkdir -p "$WORK/www/static/dist" "$WORK/www/if/flow/default-authentication-flow" "$WORK/www/api/v3/core/users/me"
for i in 0 1 2 3 4 5 6 7; do head -c $((3072 + i * 1152)) /dev/urandom | base64 -w 76 > "$WORK/www/static/dist/chunk-$i.js"; done
printf '<!DOCTYPE html><html><head><title>authentik</title></head><body><ak-flow-executor></ak-flow-executor>%3000s</body></html>' "" > "$WORK/www/if/flow/default-authentication-flow/index.html"
printf '{"user":{"pk":1,"username":"alice","name":"Alice Example","is_active":true,"groups":[]}}' > "$WORK/www/api/v3/core/users/me/index.json"
printf '{"keys":[{"kty":"RSA","kid":"bench","alg":"RS256","use":"sig","n":"%s","e":"AQAB"}]}' "$(head -c 256 /dev/urandom | base64 -w0 | tr '+/' '-_' | tr -d '=')" > "$WORK/www/application/o/mastodon/jwks.json"
# nginx's workers run as another user (nobody) when the script runs as root, and mktemp made
# the folder private: without this every answer is a 403 page, and the benchmark measures that.
chmod a+x "$WORK"; chmod -R a+rX "$WORK/www"

cat > "$WORK/nginx.conf" <<EOF
worker_processes 2;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000;
  server {
    listen 127.0.0.1:$UP ssl;
    ssl_certificate $WORK/certs/leaf.pem;
    ssl_certificate_key $WORK/certs/leaf.key;
    root $WORK/www;
    location = /application/o/token/ {
      default_type application/json;
      return 200 '$TOKEN_JSON';
    }
    location /static/ { }
    location /application/o/mastodon/.well-known/ { default_type application/json; }
    location = /application/o/mastodon/jwks/ { default_type application/json; try_files /application/o/mastodon/jwks.json =404; }
    location = /application/o/userinfo/ { default_type application/json; return 200 '{"sub":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","email":"alice@example.test","email_verified":true,"preferred_username":"alice"}'; }
    location /api/v3/core/users/me/ { default_type application/json; try_files /api/v3/core/users/me/index.json =404; }
    location /api/v3/flows/executor/ { default_type application/json; return 200 '{"component":"ak-stage-identification","flow_info":{"title":"Welcome to authentik!"},"user_fields":["username","email"]}'; }
    location /if/flow/ { default_type text/html; try_files /if/flow/default-authentication-flow/index.html =404; }
  }
  upstream authentik { server 127.0.0.1:$UP; keepalive 64; }
  server {
    listen 127.0.0.1:$RP ssl;
    ssl_certificate $WORK/certs/leaf.pem;
    ssl_certificate_key $WORK/certs/leaf.key;
    location / {
      proxy_pass https://authentik;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_ssl_session_reuse on;
    }
  }
}
EOF
"$NGINX" -c "$WORK/nginx.conf" -p "$WORK"
sleep 0.5

# The token call as Mastodon makes it (wrk's scripts and the pre-flight check send the same).
FORM="grant_type=authorization_code&code=Zm9vYmFyYmF6cXV4cXV1eA&redirect_uri=https%3A%2F%2Fmastodon.test%2Fauth%2Fauth%2Fopenid_connect%2Fcallback"
AUTH="Basic YmVuY2gtY2xpZW50OnNlY3JldA=="
UA="Rack::OAuth2 (2.3.0)"
cat > "$WORK/post.lua" <<EOF
wrk.method = "POST"
wrk.body = "$FORM"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "$AUTH"
wrk.headers["User-Agent"] = "$UA"
EOF

# The mix (see the top): one request in 20 a login step, in the order a login makes them.
cat > "$WORK/mix.lua" <<EOF
local n = 0
local form = "$FORM"
local heads = { ["Content-Type"] = "application/x-www-form-urlencoded", ["Authorization"] = "$AUTH", ["User-Agent"] = "$UA" }
local bearer = { ["Authorization"] = "Bearer AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" }
local login = {
  function() return wrk.format("GET", "/application/o/mastodon/.well-known/openid-configuration") end,
  function() return wrk.format("POST", "/application/o/token/", heads, form) end,
  function() return wrk.format("GET", "/application/o/mastodon/jwks/") end,
  function() return wrk.format("GET", "/application/o/userinfo/", bearer) end,
}
request = function()
  n = n + 1
  local k = n % 100
  if k < 5 then return login[(math.floor(n / 100) + k) % 4 + 1]() end
  if k < 10 then return wrk.format("GET", "/if/flow/default-authentication-flow/?next=%2F") end
  if k < 20 then return wrk.format("GET", "/api/v3/flows/executor/default-authentication-flow/?query=next%3D%252F") end
  if k < 45 then return wrk.format("GET", "/api/v3/core/users/me/") end
  return wrk.format("GET", "/static/dist/chunk-" .. (n % 8) .. ".js")
end
EOF

# A local OTLP sink: answers 200 to every POST and counts them.
OP=18447; MET=18448
cat > "$WORK/otlp_sink.py" <<'EOF'
import http.server, sys
count = [0]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        count[0] += 1
        open(sys.argv[2], "w").write(str(count[0]))
        self.send_response(200); self.send_header("content-length", "0"); self.end_headers()
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
EOF
python3 "$WORK/otlp_sink.py" "$OP" "$WORK/otlp.count" >/dev/null 2>&1 &

# oidc-tap with capture, analysis, --trace, --metrics and --otlp on.
$TAP proxy --listen "https://127.0.0.1:$TP" --ca-dir "$WORK/certs" ${TAP_ARGS:-} \
  --upstream "https://127.0.0.1:$UP" --upstream-ca "$WORK/certs/ca.pem" \
  --trace "$WORK/trace.jsonl" ${TELEMETRY_ARGS---metrics 127.0.0.1:$MET --otlp http://127.0.0.1:$OP} >"$WORK/tap.out" 2>"$WORK/tap.err" &
TAP_PID=$!
if [ -n "$MITM" ]; then
  "$MITM" -q --mode "reverse:https://127.0.0.1:$UP" --listen-host 127.0.0.1 --listen-port $MP \
    --ssl-insecure --set connection_strategy=lazy >"$WORK/mitm.out" 2>&1 &
  MITM_PID=$!
fi
sleep 2

# Every path through every proxy must answer what the upstream serves (status 200, the full
# body) before anything is measured: a benchmark of error pages measures nothing.
check() { # label url [post]
  local got tries=0
  # A proxy still starting (mitmdump takes seconds) refuses the connection: wait up to 15 s.
  until curl -sk -o /dev/null "$2" 2>/dev/null || [ $((tries += 1)) -ge 30 ]; do sleep 0.5; done
  if [ -n "${3:-}" ]; then
    got=$(curl -sk -o /dev/null -w '%{http_code} %{size_download}' -X POST -H 'Content-Type: application/x-www-form-urlencoded' \
      -H "Authorization: $AUTH" -A "$UA" -d "$FORM" "$2" || true)
  else
    got=$(curl -sk -o /dev/null -w '%{http_code} %{size_download}' "$2" || true)
  fi
  echo "   $1: $got"
  case "$got" in "200 $4") ;; *) echo "!! $1 answered '$got', expected '200 $4': the benchmark would measure the wrong thing" >&2; exit 1 ;; esac
}
TOKEN_SIZE=$(stat -c %s "$WORK/www/token.json"); STATIC_SIZE=$(stat -c %s "$WORK/www/static/app.js")
echo "== checking what each proxy answers (status, bytes)"
for who in direct:$UP oidc-tap:$TP nginx:$RP ${MITM:+mitmdump:$MP}; do
  check "${who%%:*} token" "https://127.0.0.1:${who##*:}/application/o/token/" post "$TOKEN_SIZE"
  check "${who%%:*} static" "https://127.0.0.1:${who##*:}/static/app.js" "" "$STATIC_SIZE"
  check "${who%%:*} asset" "https://127.0.0.1:${who##*:}/static/dist/chunk-0.js" "" "$(stat -c %s "$WORK/www/static/dist/chunk-0.js")"
  check "${who%%:*} api" "https://127.0.0.1:${who##*:}/api/v3/core/users/me/" "" "$(stat -c %s "$WORK/www/api/v3/core/users/me/index.json")"
done

rss() { awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' "/proc/$1/status" 2>/dev/null || echo "?"; }
peak() { awk '/VmHWM/ {printf "%.1f MiB", $2/1024}' "/proc/$1/status" 2>/dev/null || echo "?"; }

# wrk → "req/s p50_ms p99_ms"
measure() { # url [lua]
  local args=(-t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency)
  [ -n "${2:-}" ] && args+=(-s "$2")
  wrk "${args[@]}" "$1" 2>/dev/null | awk -v nfile="$WORK/requests" '
    /requests in/ {n=$1}
    /Requests\/sec/ {rps=$2}
    /Non-2xx or 3xx responses/ {bad=$NF}
    function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
    $1=="50%" {p50=ms($2)} $1=="99%" {p99=ms($2)}
    END {if (bad > 0) printf "!! %d answers were not 2xx/3xx: this cell measures error pages\n", bad > "/dev/stderr";
         print n + 0 > nfile
         printf "%.0f %.3f %.3f\n", rps, p50, p99}'
}

# CPU time (clock ticks, 1/100 s) of oidc-tap's threads, "forwarding analysis", and of nginx's
# workers (upstream and reverse proxy are one nginx); used per request, from /proc.
tap_ticks() {
  for t in /proc/$TAP_PID/task/*; do echo "$(cat "$t/comm") $(awk '{print $14 + $15}' "$t/stat")"; done 2>/dev/null |
    awk '{if ($1 ~ /analys/) a += $NF; else f += $NF} END {print f + 0, a + 0}'
}
nginx_ticks() { for p in $(pgrep -f 'nginx: worker'); do awk '{print $14 + $15}' "/proc/$p/stat"; done | awk '{s += $1} END {print s + 0}'; }
busy_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6}' /proc/stat; }
per_req() { python3 -c "print(f'{($2 - $1) * 10000 / max($3, 1):.0f}')"; } # ticks before, after, requests → µs

if [ "$MODE" = soak ]; then
  cat > "$WORK/mixed.lua" <<EOF
-- One in 2,000 a 10 MB download; the rest a login's back channel (discovery, token) and
-- static files, in turn.
local n = 0
local form = "$FORM"
local heads = { ["Content-Type"] = "application/x-www-form-urlencoded", ["Authorization"] = "$AUTH", ["User-Agent"] = "$UA" }
request = function()
  n = n + 1
  if n % 2000 == 0 then return wrk.format("GET", "/static/big.bin") end
  local k = n % 3
  if k == 0 then return wrk.format("POST", "/application/o/token/", heads, form) end
  if k == 1 then return wrk.format("GET", "/application/o/mastodon/.well-known/openid-configuration") end
  return wrk.format("GET", "/static/app.js")
end
EOF
  echo "== soak: $SOAK_REQUESTS requests through oidc-tap (--trace on)"
  echo "   RSS at start: $(rss $TAP_PID)"
  done_n=0
  while [ "$done_n" -lt "$SOAK_REQUESTS" ]; do
    n=$(wrk -t"$THREADS" -c"$CONNS" -d10s -s "$WORK/mixed.lua" "https://127.0.0.1:$TP/" 2>/dev/null | awk '/requests in/ {print $1}')
    done_n=$((done_n + ${n:-0}))
    echo "   after $done_n requests: RSS $(rss $TAP_PID) (peak so far $(peak $TAP_PID))"
  done
  kill -INT $TAP_PID; wait $TAP_PID 2>/dev/null || true
  echo "   $(grep '^capture:' "$WORK/tap.err" || echo 'capture: (no line)')"
  echo "   journal: $(du -m "$WORK/trace.jsonl" | cut -f1) MB"
  exit 0
fi

# ROUNDS rounds, the proxies interleaved within each, so a burst of load from the machine's
# neighbours hits every column alike; each cell is the run with the median req/s.
declare -A R RUNS CPU
for ((round = 1; round <= ROUNDS; round++)); do
  for path in token static mix; do
    case $path in
      token) P="/application/o/token/"; LUA="$WORK/post.lua" ;;
      static) P="/static/app.js"; LUA="" ;;
      mix) P="/"; LUA="$WORK/mix.lua" ;;
    esac
    n0=$(nginx_ticks)
    RUNS[$path,direct]+="$(measure "https://127.0.0.1:$UP$P" "$LUA");"
    [ $round = 1 ] && CPU[$path,upstream]=$(per_req "$n0" "$(nginx_ticks)" "$(cat "$WORK/requests")")
    # PERF=1: a CPU profile of oidc-tap during its first run (target/perf-<path>.data).
    if [ -n "${PERF:-}" ] && [ $round = 1 ]; then perf record -q -F 999 -p $TAP_PID -o "target/perf-$path.data" -- sleep "$DURATION" >/dev/null 2>&1 & fi
    read -r f0 a0 <<<"$(tap_ticks)"; read -r b0 i0 <<<"$(busy_ticks)"
    RUNS[$path,oidc-tap]+="$(measure "https://127.0.0.1:$TP$P" "$LUA");"
    if [ $round = 1 ]; then
      read -r f1 a1 <<<"$(tap_ticks)"; read -r b1 i1 <<<"$(busy_ticks)"; n=$(cat "$WORK/requests")
      CPU[$path,forwarding]=$(per_req "$f0" "$f1" "$n"); CPU[$path,analysis]=$(per_req "$a0" "$a1" "$n")
      CPU[$path,idle]=$(python3 -c "print(f'{100 * ($i1 - $i0) / max(($b1 + $i1) - ($b0 + $i0), 1):.0f}')")
    fi
    R[$path,tap-rss]=$(rss $TAP_PID)
    n0=$(nginx_ticks)
    RUNS[$path,nginx]+="$(measure "https://127.0.0.1:$RP$P" "$LUA");"
    [ $round = 1 ] && CPU[$path,nginx]=$(per_req "$n0" "$(nginx_ticks)" "$(cat "$WORK/requests")")
    if [ -n "$MITM" ]; then RUNS[$path,mitmdump]+="$(measure "https://127.0.0.1:$MP$P" "$LUA");"; fi
    # The latency a login sees when the machine is not saturated: one connection, one request
    # at a time (at 16 connections p50 is queueing behind the slowest stage, i.e. throughput).
    if [ "$LAT_CONNS" -gt 0 ]; then
      for who in direct:$UP oidc-tap:$TP nginx:$RP ${MITM:+mitmdump:$MP}; do
        RUNS[$path,${who%%:*},lat]+="$(THREADS=1 CONNS=$LAT_CONNS measure "https://127.0.0.1:${who##*:}$P" "$LUA");"
      done
    fi
  done
done
median() { tr ';' '\n' | grep . | sort -n -k1,1 | awk '{a[NR]=$0} END {print a[int((NR+1)/2)]}'; }
for key in "${!RUNS[@]}"; do R[$key]=$(median <<<"${RUNS[$key]}"); done

TAP_PEAK=$(peak $TAP_PID)
METRICS_SERIES=$(curl -s "http://127.0.0.1:$MET/metrics" | grep -vc '^#' || true)
kill -INT $TAP_PID; wait $TAP_PID 2>/dev/null || true
CAPTURE=$(grep '^capture:' "$WORK/tap.err" || echo "capture: (no line)")
JOURNAL_MB=$(du -m "$WORK/trace.jsonl" | cut -f1)

echo
echo "oidc-tap load benchmark · $(date -u +%F) · $(nproc) cores · $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "wrk -t$THREADS -c$CONNS -d${DURATION}s, median of $ROUNDS interleaved rounds, TLS on both legs, nginx $("$NGINX" -v 2>&1 | cut -d/ -f2) with 2 workers; oidc-tap with --trace"
printf "%-8s %-10s %10s %9s %9s\n" path proxy "req/s" "p50 ms" "p99 ms"
for path in token static mix; do
  for who in direct oidc-tap nginx mitmdump; do
    v=${R[$path,$who]:-}
    [ -z "$v" ] && continue
    read -r rps p50 p99 <<<"$v"
    printf "%-8s %-10s %10s %9s %9s\n" $path $who "$rps" "$p50" "$p99"
  done
  read -r tr tp50 _ <<<"${R[$path,oidc-tap]}"
  read -r nr _ <<<"${R[$path,nginx]}"
  read -r dr dp50 _ <<<"${R[$path,direct]}"
  line="  $path: oidc-tap/nginx $(python3 -c "print(f'{$tr/$nr:.2f}')")×"
  if [ -n "${R[$path,mitmdump]:-}" ]; then
    read -r mr _ <<<"${R[$path,mitmdump]}"
    line+=" · oidc-tap/mitmdump $(python3 -c "print(f'{$tr/max($mr,1):.1f}')")×"
  fi
  line+=" · p50 added over direct $(python3 -c "print(f'{$tp50-$dp50:.3f}')") ms · oidc-tap RSS ${R[$path,tap-rss]}"
  echo "$line"
  # nginx's workers serve both legs through nginx: its proxying is their total minus what the
  # upstream alone cost per request (measured direct), a rough split.
  echo "  $path CPU per request (round 1, /proc): upstream ${CPU[$path,upstream]} µs · nginx proxying $(python3 -c "print(${CPU[$path,nginx]} - ${CPU[$path,upstream]})") µs · oidc-tap forwarding ${CPU[$path,forwarding]} µs + analysis ${CPU[$path,analysis]} µs · machine idle during oidc-tap ${CPU[$path,idle]} %"
done
if [ "$LAT_CONNS" -gt 0 ]; then
  echo "latency at $LAT_CONNS connection(s), wrk -t1 (not saturated): p50 / p99 ms, p50 added over direct"
  for path in token static mix; do
    read -r _ dp50 _ <<<"${R[$path,direct,lat]}"
    line="  $path:"
    for who in direct oidc-tap nginx mitmdump; do
      v=${R[$path,$who,lat]:-}
      [ -z "$v" ] && continue
      read -r _ p50 p99 <<<"$v"
      line+=" $who $p50 / $p99"
      [ $who != direct ] && line+=" (+$(python3 -c "print(f'{$p50-$dp50:.3f}')"))"
      line+=" ·"
    done
    echo "${line% ·}"
  done
fi
echo "  $CAPTURE"
echo "  journal: ${JOURNAL_MB} MB · metrics series at the end: $METRICS_SERIES · OTLP exports received: $(cat "$WORK/otlp.count" 2>/dev/null || echo 0) · oidc-tap peak RSS $TAP_PEAK"
