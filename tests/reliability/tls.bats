#!/usr/bin/env bats
# tls.bats - etc/nginx-eddy.conf, the TLS front the README recommends (Braze
# only posts to https://), run for real: nginx with a throw-away self-signed
# certificate for 127.0.0.1 in front of eddyd. Batches posted over HTTPS are
# stored, other methods and paths (the admin endpoints) never reach eddyd,
# and the access log holds no write key or token. Skipped when nginx or
# openssl is not installed (apt-get install nginx-light openssl).

load rel_helpers

teardown() {
    [ -z "${NGINX_PID:-}" ] || { kill -9 "$NGINX_PID" 2>/dev/null; wait "$NGINX_PID" 2>/dev/null; }
    rel_teardown
}

start_nginx() {
    command -v nginx >/dev/null || skip "nginx not installed"
    command -v openssl >/dev/null || skip "openssl not installed"
    local d=$BATS_TEST_TMPDIR/nginx
    mkdir -p "$d"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$d/key.pem" -out "$d/cert.pem" -days 2 \
        -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" 2>/dev/null
    TLS_PORT=$(free_port)
    # The shipped file, with only addresses and paths changed for the test.
    sed -e "s#listen 443 ssl http2;#listen 127.0.0.1:$TLS_PORT ssl http2;#" \
        -e '/listen \[::\]:443/d' \
        -e "s#/etc/letsencrypt/live/eddy.example.com/fullchain.pem#$d/cert.pem#" \
        -e "s#/etc/letsencrypt/live/eddy.example.com/privkey.pem#$d/key.pem#" \
        -e "s#/var/log/nginx/eddy-access.log#$d/access.log#" \
        -e "s#server 127.0.0.1:8080;#server 127.0.0.1:$INGEST_PORT;#" \
        "$BATS_TEST_DIRNAME/../../etc/nginx-eddy.conf" >"$d/eddy.conf"
    cat >"$d/nginx.conf" <<NGINX
daemon off;
master_process off;
pid $d/nginx.pid;
error_log $d/error.log;
events { worker_connections 256; }
http {
    client_body_temp_path $d/body;
    proxy_temp_path $d/proxy;
    access_log off;
    include $d/eddy.conf;
}
NGINX
    nginx -c "$d/nginx.conf" -p "$d" -e "$d/error.log" 2>>"$d/error.log" &
    NGINX_PID=$!
    TLS_URL=https://127.0.0.1:$TLS_PORT
    wait_until 10 curl -s -o /dev/null --cacert "$d/cert.pem" "$TLS_URL/" || {
        cat "$d/error.log"
        false
    }
}

tls() { # ARGS... -> "STATUS"
    curl -s -o "$BATS_TEST_TMPDIR/tls-answer" -w '%{http_code}' --cacert "$BATS_TEST_TMPDIR/nginx/cert.pem" "$@"
}

@test "TLS front (etc/nginx-eddy.conf): HTTPS posts are stored, admin is not exposed, no credential logged" {
    write_config
    start_eddyd
    start_nginx

    run tls -X POST -H 'Content-Type: application/json' \
        --data-binary @"$FIXTURES/corpus/batch-00001.json" "$TLS_URL/v1/webhook?writeKey=test-key"
    [ "$output" = 200 ]
    grep -q '"events":100' "$BATS_TEST_TMPDIR/tls-answer"
    run tls -X POST -H 'Authorization: Bearer test-token' -H 'Content-Encoding: gzip' \
        --data-binary @<(gzip -c "$FIXTURES/corpus/batch-00002.json") "$TLS_URL/currents"
    [ "$output" = 200 ]
    run tls -X POST --data-binary '{"events":[{"id":"x"}]}' "$TLS_URL/v1/webhook?writeKey=wrong"
    [ "$output" = 401 ]
    [ "$(status_field pending.events)" -eq 200 ]

    # Only POST to the ingest paths is proxied.
    run tls "$TLS_URL/v1/webhook?writeKey=test-key"
    [ "$output" = 403 ]
    for p in /metrics /status /healthz /readyz /; do
        run tls "$TLS_URL$p"
        [ "$output" = 404 ]
    done

    # Credentials stay out of the access log.
    local log=$BATS_TEST_TMPDIR/nginx/access.log
    [ "$(wc -l <"$log")" -ge 8 ]
    ! grep -q 'test-key\|test-token\|writeKey\|wrong' "$log"
    ! grep -q 'test-key\|test-token' "$BATS_TEST_TMPDIR/eddyd.log"
    rel_note "TLS front: nginx $(nginx -v 2>&1 | sed 's/.*nginx\///') in front of eddyd, 3 HTTPS posts, $(wc -l <"$log") access-log lines, no credential in them"
}
