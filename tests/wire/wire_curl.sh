#!/usr/bin/env bash
# Wire tests with curl: decoded bodies, exact chunk framing (--raw), HTTP/1.0, HEAD,
# keep-alive reuse, truncation. Usage: wire_curl.sh PATH/TO/rill_wire_server [PATH/TO/curl]
# Prints one line per case and exits non-zero if any case fails.
set -u

SERVER=${1:?usage: wire_curl.sh PATH/TO/rill_wire_server [PATH/TO/curl]}
CURL=${2:-curl}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/rill-wire-curl.XXXXXX")
SERVER_PID=

cleanup() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

: >"$WORK/server.out"
"$SERVER" --port 0 --idle-seconds 30 --max-seconds 120 >"$WORK/server.out" 2>"$WORK/server.err" &
SERVER_PID=$!
PORT=
for _ in $(seq 1 100); do  # at most 10 s
    PORT=$(sed -n '1s/^listening on \([0-9][0-9]*\)$/\1/p' "$WORK/server.out")
    [[ -n "$PORT" ]] && break
    sleep 0.1
done
if [[ -z "$PORT" ]]; then
    echo "FAIL wire_server did not report its port"
    exit 1
fi
BASE="http://127.0.0.1:$PORT"

FAILURES=0
CASES=0
ERR=""

# curl with a bound on every transfer; extra arguments follow.
c() { "$CURL" --silent --show-error --max-time 10 "$@"; }

fail() { ERR="$*"; return 1; }

# expect_file FILE PRINTF-FORMAT: the file holds exactly these bytes.
expect_file() {
    printf "$2" >"$WORK/expected"
    cmp -s "$1" "$WORK/expected" || fail "$1: expected $(od -c "$WORK/expected" | head -5 | tr -s ' \n' ' '), got $(od -c "$1" | head -5 | tr -s ' \n' ' ')"
}

# header FILE NAME: the values of NAME in a curl -D dump (CR stripped), one a line.
header() { tr -d '\r' <"$1" | sed -n "s/^$2: *//Ip"; }

expect_header() {  # FILE NAME VALUE ("" = absent)
    local got
    got=$(header "$1" "$2")
    [[ "$got" == "$3" ]] || fail "header $2: expected '$3', got '$got'"
}

# log_has TAG NEEDLE...: the server's outcome record for TAG holds every needle.
log_has() {
    local tag=$1 line n
    shift
    line=$(c "$BASE/__log?tag=$tag") || { fail "log fetch failed"; return 1; }
    [[ $(printf '%s\n' "$line" | grep -c .) == 1 ]] || { fail "log for $tag: '$line'"; return 1; }
    for n in "$@"; do
        [[ "$line" == *"$n"* ]] || { fail "log for $tag lacks '$n': $line"; return 1; }
    done
}

run() {
    local name=$1
    CASES=$((CASES + 1))
    ERR=""
    rm -f "$WORK"/h* "$WORK"/b*
    if "$name"; then
        echo "ok   $name"
    else
        FAILURES=$((FAILURES + 1))
        echo "FAIL $name: ${ERR:-see above}"
    fi
}

# --- cases ---------------------------------------------------------------------------------------

curl_chunked_decoded() {
    c -D "$WORK/h" -o "$WORK/b" "$BASE/?parts=hello,,world&delay-ms=10&tag=c1" || return 1
    expect_header "$WORK/h" Transfer-Encoding chunked && expect_file "$WORK/b" 'helloworld' &&
        log_has c1 framing=chunked reason=completed keep_alive=1
}

curl_chunked_raw() {
    c --raw -D "$WORK/h" -o "$WORK/b" "$BASE/?parts=3,,ab&delay-ms=2" || return 1
    expect_header "$WORK/h" Content-Length "" &&
        expect_file "$WORK/b" '3\r\naaa\r\n2\r\nab\r\n0\r\n\r\n'
}

curl_trailers_raw() {
    # fnv1a("aaabbbb") and 2 parts; see wire_server.cpp
    c --raw -D "$WORK/h" -o "$WORK/b" "$BASE/?parts=3,4&trailers=1&delay-ms=2&tag=c3" || return 1
    expect_header "$WORK/h" Trailer 'X-Checksum, X-Count' &&
        expect_file "$WORK/b" '3\r\naaa\r\n4\r\nbbbb\r\n0\r\nX-Checksum: 158c994a\r\nX-Count: 2\r\n\r\n' &&
        log_has c3 close=ok reason=completed
}

curl_trailers_decoded() {
    c -o "$WORK/b" "$BASE/?parts=3,4&trailers=1" || return 1
    expect_file "$WORK/b" 'aaabbbb'
}

curl_fixed() {
    c -D "$WORK/h" -o "$WORK/b" "$BASE/?cl=7&parts=3,4&delay-ms=3&tag=c5" || return 1
    expect_header "$WORK/h" Content-Length 7 && expect_header "$WORK/h" Transfer-Encoding "" &&
        expect_file "$WORK/b" 'aaabbbb' && log_has c5 framing=fixed reason=completed
}

curl_keepalive_reuse() {
    # Two transfers in one curl run: the second must reuse the connection (0 new connects).
    c -o /dev/null -o /dev/null -w '%{num_connects} ' \
        "$BASE/?parts=ab,cd&delay-ms=5" "$BASE/?cl=2&parts=ef" >"$WORK/b" || return 1
    expect_file "$WORK/b" '1 0 '
}

curl_empty_sends() {
    c --raw -o "$WORK/b" "$BASE/?parts=,,ab,,,&delay-ms=1" || return 1
    expect_file "$WORK/b" '2\r\nab\r\n0\r\n\r\n' || return 1
    c -o "$WORK/b2" "$BASE/?cl=2&parts=,a,,b," || return 1
    expect_file "$WORK/b2" 'ab'
}

curl_http10_close_delimited() {
    c --http1.0 --raw -D "$WORK/h" -o "$WORK/b" "$BASE/?parts=ab,cd&delay-ms=3&tag=c8" || return 1
    expect_header "$WORK/h" Connection close && expect_header "$WORK/h" Transfer-Encoding "" &&
        expect_header "$WORK/h" Content-Length "" && expect_file "$WORK/b" 'abcd' &&
        log_has c8 version=1.0 framing=close-delimited keep_alive=0
}

curl_http10_keepalive_fixed() {
    c --http1.0 -H 'Connection: keep-alive' -D "$WORK/h" -o "$WORK/b" -o /dev/null -w '%{num_connects} ' \
        "$BASE/?cl=4&parts=ab,cd&tag=c9" "$BASE/?cl=1&parts=z" >"$WORK/n" || return 1
    expect_header "$WORK/h" Connection 'keep-alive
keep-alive' && expect_file "$WORK/b" 'abcd' && expect_file "$WORK/n" '1 0 ' &&
        log_has c9 version=1.0 framing=fixed keep_alive=1
}

curl_http10_trailers_dropped() {
    c --http1.0 --raw -o "$WORK/b" "$BASE/?parts=abc&trailers=1&tag=c10" || return 1
    expect_file "$WORK/b" 'abc' && log_has c10 close=trailers_dropped
}

curl_fixed_trailers_dropped() {
    c --raw -o "$WORK/b" "$BASE/?cl=3&parts=abc&trailers=1&tag=c11" || return 1
    expect_file "$WORK/b" 'abc' && log_has c11 framing=fixed close=trailers_dropped
}

# With -I curl writes the head to the output too: the output must be the head and nothing more.
same_as_head() { cmp -s "$1" "$2" || fail "HEAD output holds more than the head: $(od -c "$1" | tail -3 | tr -s ' \n' ' ')"; }

curl_head() {
    c -I -o "$WORK/b" -D "$WORK/h" "$BASE/?cl=7&parts=3,4&tag=c12" || return 1
    expect_header "$WORK/h" Content-Length 7 && same_as_head "$WORK/b" "$WORK/h" || return 1
    c -I -D "$WORK/h2" -o "$WORK/b2" "$BASE/?parts=3,4" || return 1
    expect_header "$WORK/h2" Transfer-Encoding chunked && expect_header "$WORK/h2" Content-Length "" &&
        same_as_head "$WORK/b2" "$WORK/h2" && log_has c12 method=HEAD framing=none
}

curl_head_then_get() {
    # a stray body byte after the HEAD response would corrupt the second transfer
    c -I -o /dev/null -w '%{http_code} %{num_connects} ' "$BASE/?cl=3&parts=abc&tag=c12b" \
        --next --silent --show-error --max-time 10 -o "$WORK/b" -w '%{http_code} %{num_connects} ' \
        "$BASE/?parts=xyz" >"$WORK/n" 2>"$WORK/e" || { fail "$(cat "$WORK/e")"; return 1; }
    expect_file "$WORK/n" '200 1 200 0 ' && expect_file "$WORK/b" 'xyz' && log_has c12b method=HEAD || return 1
    c -I -o /dev/null -w '%{http_code} %{num_connects} ' "$BASE/?parts=abc" \
        --next --silent --show-error --max-time 10 -o "$WORK/b2" -w '%{http_code} %{num_connects} ' \
        "$BASE/?parts=xyz" >"$WORK/n2" 2>"$WORK/e" || { fail "$(cat "$WORK/e")"; return 1; }
    expect_file "$WORK/n2" '200 1 200 0 ' && expect_file "$WORK/b2" 'xyz'
}

curl_head_http10() {
    c --http1.0 -I -D "$WORK/h" -o "$WORK/b" "$BASE/?parts=3,4" || return 1
    expect_header "$WORK/h" Connection close && expect_header "$WORK/h" Transfer-Encoding "" &&
        same_as_head "$WORK/b" "$WORK/h"
}

curl_204_304() {
    local s
    for s in 204 304; do
        : >"$WORK/b$s"  # curl creates no file for an empty body
        c -D "$WORK/h$s" -o "$WORK/b$s" -o "$WORK/n$s" -w '%{http_code} %{size_download} %{num_connects} ' \
            "$BASE/?status=$s&parts=abc" "$BASE/?parts=x" >"$WORK/w$s" || return 1
        expect_file "$WORK/w$s" "$s 0 1 200 1 0 " || return 1
        expect_file "$WORK/b$s" '' && expect_file "$WORK/n$s" 'x' || return 1
    done
}

curl_request_close() {
    c -H 'Connection: close' -D "$WORK/h" -o "$WORK/b" "$BASE/?parts=ab&tag=c15" || return 1
    expect_header "$WORK/h" Connection close && expect_file "$WORK/b" 'ab' && log_has c15 keep_alive=0
}

curl_app_close() {
    c -D "$WORK/h" -o "$WORK/b" -o /dev/null -w '%{num_connects} ' \
        "$BASE/?parts=ab&close=1&tag=c16" "$BASE/?parts=x" >"$WORK/n" || return 1
    # exactly one Connection header, and curl had to open a second connection
    expect_header "$WORK/h" Connection close && expect_file "$WORK/b" 'ab' &&
        expect_file "$WORK/n" '1 1 ' && log_has c16 keep_alive=0
}

curl_short() {
    c -o "$WORK/b" "$BASE/?cl=10&parts=abc&short=1&tag=c17" 2>"$WORK/e"
    local rc=$?
    [[ $rc == 18 ]] || fail "curl exit $rc, expected 18 (partial file)" || return 1
    expect_file "$WORK/b" 'abc' && log_has c17 reason=truncated keep_alive=0
}

curl_aborted_chunked() {
    c -o "$WORK/b" "$BASE/?parts=abc,def&delay-ms=2&abort=1&tag=c18" 2>"$WORK/e"
    local rc=$?
    [[ $rc == 18 || $rc == 56 ]] || fail "curl exit $rc, expected 18 or 56 (incomplete chunked body)" || return 1
    log_has c18 reason=aborted
}

curl_over() {
    c --raw -H 'Connection: close' -o "$WORK/b" "$BASE/?cl=5&parts=abc,defgh,de&over=1&tag=c19" || return 1
    expect_file "$WORK/b" 'abcde' &&
        log_has c19 sends=written,length_exceeded,written,length_exceeded, reason=completed
}

curl_inject() {
    c --raw -i -o "$WORK/b" "$BASE/?inject=1&tag=c20" || return 1
    if grep -qi 'injected' "$WORK/b"; then fail "X-Injected reached the client"; return 1; fi
    head -1 "$WORK/b" | grep -q '^HTTP/1.1 500 ' || { fail "status: $(head -1 "$WORK/b")"; return 1; }
    log_has c20 head=invalid_field_value,invalid_field_name,ok, || return 1
    if log_has c20 LEAKED; then fail "a refused head left bytes behind"; return 1; fi
    ERR=""
}

curl_bad_transfer_encoding() {
    c -i -o "$WORK/b" "$BASE/?bad=te&tag=c21" || return 1
    head -1 "$WORK/b" | grep -q '^HTTP/1.1 500 ' || { fail "status: $(head -1 "$WORK/b")"; return 1; }
    log_has c21 head=transfer_encoding_set,ok,
}

for name in curl_chunked_decoded curl_chunked_raw curl_trailers_raw curl_trailers_decoded curl_fixed \
    curl_keepalive_reuse curl_empty_sends curl_http10_close_delimited curl_http10_keepalive_fixed \
    curl_http10_trailers_dropped curl_fixed_trailers_dropped curl_head curl_head_then_get curl_head_http10 curl_204_304 \
    curl_request_close curl_app_close curl_short curl_aborted_chunked curl_over curl_inject \
    curl_bad_transfer_encoding; do
    run "$name"
done

kill -TERM "$SERVER_PID"
for _ in $(seq 1 50); do  # at most 5 s
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
done
wait "$SERVER_PID"
SERVER_RC=$?
SERVER_PID=
if [[ $SERVER_RC != 0 ]]; then
    FAILURES=$((FAILURES + 1))
    echo "FAIL server exit status $SERVER_RC"
fi
echo "$CASES cases, $FAILURES failed"
[[ $FAILURES == 0 ]]
