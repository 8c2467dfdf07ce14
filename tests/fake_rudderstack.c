/*
 * fake_rudderstack.c - a stand-in for rudder-server's webhook gateway, used by
 * the end-to-end tests, the demo (`make run`) and the drain benchmark.
 *
 * It answers POST /v1/webhook the way the gateway does for a Braze source
 * (see DESIGN.md "RudderStack's gateway: the receiver"): 200 "OK"; 401 for a missing
 * or unknown write key (?writeKey= first, else the Basic-auth user); 404
 * "source is disabled"; 413 above the size limit; 400 for a body that is not
 * JSON, has no "events" array, or whose events all lack both
 * user.external_user_id and user.user_id.
 *
 * Size, compression and numbers follow rudder-server's gateway as read at
 * f2655fbb (v1.83.0+5, 2026-08-19):
 *   - The limit, Gateway.maxReqSizeInKB = 4000 (x 1024 bytes,
 *     gateway/webhook/setup.go), is checked against the request as wrapped
 *     for the transformer (gateway/webhook/webhook.go, near line 375), not
 *     the raw body: prepareTransformerEventRequestV2
 *     (gateway/webhook/webhookTransformer.go) marshals rudder-go-kit's
 *     requesttojson.RequestJSON {method, url, proto, headers,
 *     body: the body as one JSON string, query_parameters} with Go's
 *     encoding/json rules (", \, control bytes, < > & and U+2028/9 escaped,
 *     invalid UTF-8 as \ufffd), and misc.SanitizeJSON then drops every
 *     \u0000. A Braze body grows ~11% that way: refused above ~3.69 MB.
 *     envelope_len below counts the same bytes. (The gateway checks the
 *     transformed batch against the limit once more, gateway/handle.go; the
 *     fake does not.)
 *   - middleware/uncompress.go inflates only `Content-Encoding: gzip`,
 *     compared exactly (r.Header.Get(...) == "gzip"); any other value
 *     leaves the body as sent. The inflating reader fails while the wrapper
 *     is built, and an error the gateway has no status for is a 500
 *     (gateway/response/response.go, GetErrorStatusCode): corrupt gzip gets
 *     500.
 *   - The body travels to the transformer as a string, so the gateway itself
 *     refuses no number: {"n":1e400} is accepted (the transformer's
 *     JSON.parse reads it as Infinity).
 * JSON is checked with yajl (yajl_tree), which is stricter than the gateway
 * for lone surrogates, invalid UTF-8 and raw NUL bytes: such bodies get 400
 * here.
 *
 * Tests steer it with flags at start or at run time with
 *   POST /_control?key=value&...    (same keys as the flags, without "--")
 *   GET  /_stats                    counters as one JSON object (requests by
 *                                   status, accepted requests/events/bytes,
 *                                   first_ms/last_ms: arrival of the first
 *                                   and last request since start or reset)
 * Keys:
 *   fail=N fail_status=S retry_after=SECS   answer S (default 503) to the next
 *                                           N requests (-1: until fail=0);
 *                                           with retry_after, add Retry-After
 *                                           (retry_after_date=1: as an HTTP-date)
 *   delay_ms=N         answer every request N ms late
 *   hang=N             accept the next N requests and never answer (-1: all);
 *                      hang=0 stops hanging and closes the hung connections
 *                      without an answer (the client sees EOF)
 *   close=N            close the next N connections without answering (-1: all)
 *   outage=S           answer S to every request until outage=0 (a 5xx
 *                      outage: fail=-1 fail_status=S)
 *   marker=TEXT        400 for a request whose body contains TEXT ("" clears)
 *   marker_status=S    the status for a marked body instead of 400 (e.g. 500:
 *                      a poison batch that always fails)
 *   key_status=K=S     answer S to every request with write key K, as the
 *                      gateway does for a revoked key (401) or a disabled
 *                      source (404); with retry_after, add Retry-After
 *                      (S 0 or 200: answer K normally again); repeatable
 *   reject_keys=0|1    401 "invalid write key" for every key
 *   refuse_gzip=S      answer S (e.g. 415, or 400) to every request sent with
 *                      Content-Encoding: gzip, as a destination that does not
 *                      take gzip would (0: take gzip again, the default)
 *   disabled=0|1       404 "source is disabled"
 *   max_body=BYTES     the size limit, on the wrapped request (default
 *                      4096000, the gateway's 4000 KiB)
 *   reset=1            clears every fault above and the counters
 *
 * Output for assertions (each line flushed at once):
 *   --out FILE   one NDJSON line per ACCEPTED request:
 *                {"t":MS,"n":N,"write_key":"K","bytes":N,"crc32":N,
 *                 "events":N,"ids":[<each event's "id" value or null>],"mono_ns":N,
 *                 "gzip":true|false}
 *                bytes and crc32 are of the inflated body; gzip: it came
 *                with Content-Encoding: gzip
 *                mono_ns: CLOCK_MONOTONIC when it was accepted, before the
 *                answer is sent (the power-loss checker orders it by that)
 *   --bodies DIR the accepted body N, byte for byte, in DIR/N.json
 *   --log FILE   one NDJSON line per request (any answer):
 *                {"t":MS,"status":S,"bytes":N,"write_key":"K"} with S = 0 for
 *                hang/close (write_key "" when the request carried none);
 *                t is the arrival time in Unix milliseconds
 *   --no-parse   skip the JSON checks (benchmarks: the sink costs ~nothing)
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <jansson.h>
#include <yajl/yajl_tree.h>
#include <zlib.h>

#define FAKE_KEYS_MAX 32
#define FAKE_CODES 600

/* key_status: a status answered to every request of one write key. */
struct key_status {
    char *key;
    int status;
};

struct fake {
    struct event_base *base;
    /* configuration and faults */
    char *keys[FAKE_KEYS_MAX];
    size_t nkeys;
    size_t max_body;
    long fail; /* requests still to fail; -1 = until cleared */
    int fail_status;
    int retry_after;       /* seconds; 0 = no header */
    bool retry_after_date; /* send it as an HTTP-date rather than seconds */
    long delay_ms;
    long hang;       /* requests still to hang; -1 = all */
    long close_next; /* connections still to close; -1 = all */
    char *marker;
    int marker_status;
    struct key_status key_status[FAKE_KEYS_MAX];
    size_t nkey_status;
    bool reject_keys, disabled, no_parse;
    int refuse_gzip; /* status for every gzip request, 0 = take them */
    /* outputs */
    FILE *out, *log;
    char *bodies_dir;
    /* hung requests, answered when hanging stops */
    struct evhttp_request **hung;
    size_t nhung, caphung;
    /* counters */
    uint64_t by_status[FAKE_CODES];
    uint64_t requests, accepted_requests, accepted_events, accepted_bytes, closed, hung_total;
    uint64_t inflight, inflight_max;
    int64_t first_ms, last_ms; /* arrival of the first and last webhook request */
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- settings ------------------------------------------------------------ */

/* Closes the connection under req without a byte of answer: the client sees
 * EOF. libevent then frees the request when its late reply fails. */
static void close_without_answer(struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
    if (fd >= 0)
        shutdown(fd, SHUT_RDWR);
    struct evbuffer *b = evbuffer_new();
    evhttp_send_reply(req, 500, "Closed", b);
    evbuffer_free(b);
}

static void fake_answer_hung(struct fake *f)
{
    for (size_t i = 0; i < f->nhung; i++) {
        close_without_answer(f->hung[i]);
        if (f->inflight)
            f->inflight--;
    }
    f->nhung = 0;
}

static void fake_reset(struct fake *f)
{
    f->fail = 0;
    f->fail_status = 503;
    f->retry_after = 0;
    f->retry_after_date = false;
    f->delay_ms = 0;
    f->hang = 0;
    f->close_next = 0;
    free(f->marker);
    f->marker = NULL;
    f->marker_status = 400;
    for (size_t i = 0; i < f->nkey_status; i++)
        free(f->key_status[i].key);
    f->nkey_status = 0;
    f->reject_keys = f->disabled = false;
    f->refuse_gzip = 0;
    fake_answer_hung(f);
    memset(f->by_status, 0, sizeof(f->by_status));
    f->requests = f->accepted_requests = f->accepted_events = f->accepted_bytes = 0;
    f->closed = f->hung_total = 0;
    f->first_ms = f->last_ms = 0;
    f->inflight_max = f->inflight;
}

static int parse_long(const char *v, long *out)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end)
        return -1;
    *out = x;
    return 0;
}

/* Applies one steering key; used by flags and by /_control. */
static int fake_set(struct fake *f, const char *k, const char *v)
{
    long x = 0;
    if (!strcmp(k, "marker")) {
        free(f->marker);
        f->marker = *v ? strdup(v) : NULL;
        return 0;
    }
    if (!strcmp(k, "key_status") || !strcmp(k, "key-status")) {
        const char *eq = strrchr(v, '=');
        if (!eq || eq == v || parse_long(eq + 1, &x) != 0 || x < 0 || x >= FAKE_CODES)
            return -1;
        size_t i = 0, klen = (size_t)(eq - v);
        while (i < f->nkey_status &&
               (strlen(f->key_status[i].key) != klen || strncmp(f->key_status[i].key, v, klen)))
            i++;
        if (x == 0 || x == 200) {
            if (i < f->nkey_status) {
                free(f->key_status[i].key);
                f->key_status[i] = f->key_status[--f->nkey_status];
            }
            return 0;
        }
        if (i == f->nkey_status) {
            if (i == FAKE_KEYS_MAX)
                return -1;
            f->key_status[i].key = strndup(v, klen);
            f->nkey_status++;
        }
        f->key_status[i].status = (int)x;
        return 0;
    }
    if (!strcmp(k, "write_key") || !strcmp(k, "write-key")) {
        if (f->nkeys == FAKE_KEYS_MAX)
            return -1;
        f->keys[f->nkeys++] = strdup(v);
        return 0;
    }
    if (parse_long(v, &x) != 0)
        return -1;
    if (!strcmp(k, "fail"))
        f->fail = x;
    else if (!strcmp(k, "outage")) {
        f->fail = x ? -1 : 0;
        if (x)
            f->fail_status = (int)x;
    } else if (!strcmp(k, "marker_status") || !strcmp(k, "marker-status"))
        f->marker_status = (int)x;
    else if (!strcmp(k, "fail_status") || !strcmp(k, "fail-status"))
        f->fail_status = (int)x;
    else if (!strcmp(k, "retry_after") || !strcmp(k, "retry-after"))
        f->retry_after = (int)x;
    else if (!strcmp(k, "retry_after_date") || !strcmp(k, "retry-after-date"))
        f->retry_after_date = x != 0;
    else if (!strcmp(k, "delay_ms") || !strcmp(k, "delay-ms"))
        f->delay_ms = x;
    else if (!strcmp(k, "hang")) {
        f->hang = x;
        if (x == 0)
            fake_answer_hung(f);
    } else if (!strcmp(k, "close"))
        f->close_next = x;
    else if (!strcmp(k, "reject_keys") || !strcmp(k, "reject-keys"))
        f->reject_keys = x != 0;
    else if (!strcmp(k, "refuse_gzip") || !strcmp(k, "refuse-gzip"))
        f->refuse_gzip = (int)x;
    else if (!strcmp(k, "disabled"))
        f->disabled = x != 0;
    else if (!strcmp(k, "max_body") || !strcmp(k, "max-body"))
        f->max_body = (size_t)x;
    else if (!strcmp(k, "reset")) {
        if (x)
            fake_reset(f);
    } else
        return -1;
    return 0;
}

/* ---- helpers -------------------------------------------------------------- */

static void reply_text(struct fake *f, struct evhttp_request *req, int code, const char *text)
{
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, text, strlen(text));
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; charset=utf-8");
    evhttp_send_reply(req, code, NULL, b);
    evbuffer_free(b);
    (void)f;
}

static void log_request(struct fake *f, int64_t t, int status, size_t bytes, const char *key)
{
    if (!f->log)
        return;
    json_t *k = json_string(key ? key : "");
    char *ks = k ? json_dumps(k, JSON_ENCODE_ANY) : NULL;
    fprintf(f->log, "{\"t\":%" PRId64 ",\"status\":%d,\"bytes\":%zu,\"write_key\":%s}\n", t, status,
            bytes, ks ? ks : "\"\"");
    fflush(f->log);
    free(ks);
    json_decref(k);
}

/* The status key_status gives key, or 0. */
static int key_status_of(const struct fake *f, const char *key)
{
    for (size_t i = 0; key && i < f->nkey_status; i++)
        if (!strcmp(f->key_status[i].key, key))
            return f->key_status[i].status;
    return 0;
}

/* Decodes standard base64 (Basic auth); returns the length or -1. */
static int base64_decode(const char *in, char *out, size_t cap)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned acc = 0;
    int bits = 0;
    size_t n = 0;
    for (; *in && *in != '='; in++) {
        const char *p = strchr(tab, *in);
        if (!p || !*p)
            return -1;
        acc = (acc << 6) | (unsigned)(p - tab);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n + 1 >= cap)
                return -1;
            out[n++] = (char)((acc >> bits) & 0xff);
        }
    }
    out[n] = 0;
    return (int)n;
}

/* The write key: ?writeKey= first, else the Basic-auth user. */
static char *request_write_key(struct evhttp_request *req, const char *query)
{
    char *key = NULL;
    if (query) {
        struct evkeyvalq q;
        if (evhttp_parse_query_str(query, &q) == 0) {
            const char *v = evhttp_find_header(&q, "writeKey");
            if (v && *v)
                key = strdup(v);
            evhttp_clear_headers(&q);
        }
    }
    if (key)
        return key;
    const char *auth = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    if (auth && !strncasecmp(auth, "Basic ", 6)) {
        char dec[1024];
        if (base64_decode(auth + 6, dec, sizeof(dec)) > 0) {
            char *colon = strchr(dec, ':');
            if (colon)
                *colon = 0;
            if (*dec)
                key = strdup(dec);
        }
    }
    return key;
}

/* Inflates a gzip body; returns a malloc'd buffer or NULL (too big or bad). */
static unsigned char *gunzip(const unsigned char *in, size_t len, size_t limit, size_t *out_len,
                             bool *too_big)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    *too_big = false;
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
        return NULL;
    size_t cap = len * 4 + 1024, n = 0;
    unsigned char *out = malloc(cap);
    if (!out) {
        inflateEnd(&zs);
        return NULL;
    }
    zs.next_in = (unsigned char *)in;
    zs.avail_in = (uInt)len;
    int rc = Z_OK;
    while (rc != Z_STREAM_END) {
        if (n == cap) {
            if (cap > limit) {
                *too_big = true;
                break;
            }
            cap *= 2;
            unsigned char *p = realloc(out, cap);
            if (!p)
                break;
            out = p;
        }
        zs.next_out = out + n;
        zs.avail_out = (uInt)(cap - n);
        rc = inflate(&zs, Z_NO_FLUSH);
        n = cap - zs.avail_out;
        if (rc != Z_OK && rc != Z_STREAM_END)
            break;
    }
    inflateEnd(&zs);
    if (rc != Z_STREAM_END || n > limit) {
        *too_big = *too_big || n > limit;
        free(out);
        return NULL;
    }
    *out_len = n;
    return out;
}

static bool key_accepted(const struct fake *f, const char *key)
{
    if (f->nkeys == 0)
        return true;
    for (size_t i = 0; i < f->nkeys; i++)
        if (!strcmp(f->keys[i], key))
            return true;
    return false;
}

/* Length of a valid UTF-8 sequence at s (at most n bytes), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t k = c >= 0xc2 && c <= 0xdf   ? 2
               : c >= 0xe0 && c <= 0xef ? 3
               : c >= 0xf0 && c <= 0xf4 ? 4
                                        : 0;
    if (!k || k > n)
        return 0;
    unsigned char lo = 0x80, hi = 0xbf; /* second byte: no overlong, surrogate or > U+10FFFF */
    if (c == 0xe0)
        lo = 0xa0;
    else if (c == 0xed)
        hi = 0x9f;
    else if (c == 0xf0)
        lo = 0x90;
    else if (c == 0xf4)
        hi = 0x8f;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < k; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return k;
}

/* Bytes body takes inside the gateway's wrapper: Go's encoding/json string
 * escaping, less the \u0000 misc.SanitizeJSON removes (see the top). */
static size_t escaped_len(const unsigned char *s, size_t n)
{
    size_t out = 2; /* the quotes */
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        size_t k;
        if (c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t')
            out += 2, i++;
        else if (c == 0)
            i++;
        else if (c < 0x20 || c == '<' || c == '>' || c == '&')
            out += 6, i++;
        else if (c < 0x80)
            out++, i++;
        else if (!(k = utf8_len(s + i, n - i)))
            out += 6, i++; /* \ufffd */
        else if (k == 3 && c == 0xe2 && s[i + 1] == 0x80 && (s[i + 2] & 0xfe) == 0xa8)
            out += 6, i += 3; /* U+2028, U+2029 */
        else
            out += k, i += k;
    }
    return out;
}

/* Size of the request as the gateway wraps it for the transformer:
 * {"method","url","proto","headers":{K:[V]},"body":"...","query_parameters":
 * {K:[V]}}, Host and Transfer-Encoding being out of Go's header map. */
static size_t envelope_len(struct evhttp_request *req, const unsigned char *body, size_t len)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *q = uri ? evhttp_uri_get_query(uri) : NULL;
    json_t *headers = json_object(), *query = json_object();
    for (struct evkeyval *h = evhttp_request_get_input_headers(req)->tqh_first; h;
         h = h->next.tqe_next)
        if (strcasecmp(h->key, "Host") && strcasecmp(h->key, "Transfer-Encoding"))
            json_object_set_new(headers, h->key, json_pack("[s]", h->value));
    struct evkeyvalq qs;
    if (q && evhttp_parse_query_str(q, &qs) == 0) {
        for (struct evkeyval *kv = qs.tqh_first; kv; kv = kv->next.tqe_next)
            json_object_set_new(query, kv->key, json_pack("[s]", kv->value));
        evhttp_clear_headers(&qs);
    }
    json_t *env =
        json_pack("{s:s,s:s,s:s,s:o,s:s,s:o}", "method", "POST", "url", evhttp_request_get_uri(req),
                  "proto", "HTTP/1.1", "headers", headers, "body", "", "query_parameters", query);
    char *text = env ? json_dumps(env, JSON_COMPACT) : NULL;
    size_t n = (text ? strlen(text) - 2 : 0) + escaped_len(body, len);
    free(text);
    json_decref(env);
    return n;
}

static yajl_val yajl_member(yajl_val obj, const char *key)
{
    const char *path[] = {key, NULL};
    return obj ? yajl_tree_get(obj, path, yajl_t_any) : NULL;
}

/* An event RudderStack keeps: it has user.external_user_id or user.user_id. */
static bool event_has_user(yajl_val ev)
{
    yajl_val user = yajl_member(ev, "user");
    if (!YAJL_IS_OBJECT(user))
        return false;
    yajl_val a = yajl_member(user, "external_user_id");
    yajl_val b = yajl_member(user, "user_id");
    return (a && !YAJL_IS_NULL(a)) || (b && !YAJL_IS_NULL(b));
}

/* An event's "id" for the --out line. */
static json_t *id_json(yajl_val v)
{
    if (YAJL_IS_STRING(v))
        return json_string(YAJL_GET_STRING(v));
    if (YAJL_IS_INTEGER(v))
        return json_integer(YAJL_GET_INTEGER(v));
    if (YAJL_IS_DOUBLE(v))
        return json_real(YAJL_GET_DOUBLE(v));
    if (YAJL_IS_TRUE(v) || YAJL_IS_FALSE(v))
        return json_boolean(YAJL_IS_TRUE(v));
    return json_null();
}

static void record_accepted(struct fake *f, int64_t t, const char *key, const unsigned char *body,
                            size_t len, yajl_val events, bool gzip)
{
    uint64_t n = ++f->accepted_requests;
    size_t nev = YAJL_IS_ARRAY(events) ? YAJL_GET_ARRAY(events)->len : 0;
    f->accepted_events += nev;
    f->accepted_bytes += len;
    if (f->bodies_dir) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%" PRIu64 ".json", f->bodies_dir, n);
        FILE *bf = fopen(path, "wb");
        if (bf) {
            fwrite(body, 1, len, bf);
            fclose(bf);
        }
    }
    if (!f->out)
        return;
    json_t *ids = json_array();
    for (size_t i = 0; i < nev; i++)
        json_array_append_new(ids, id_json(yajl_member(YAJL_GET_ARRAY(events)->values[i], "id")));
    struct timespec mono;
    clock_gettime(CLOCK_MONOTONIC, &mono);
    json_t *line =
        json_pack("{s:I,s:I,s:s,s:I,s:I,s:I,s:o,s:I,s:b}", "t", (json_int_t)t, "n", (json_int_t)n,
                  "write_key", key, "bytes", (json_int_t)len, "crc32",
                  (json_int_t)crc32(0, body, (uInt)len), "events", (json_int_t)nev, "ids", ids,
                  "mono_ns", (json_int_t)mono.tv_sec * 1000000000 + mono.tv_nsec, "gzip", gzip);
    char *s = line ? json_dumps(line, JSON_COMPACT) : NULL;
    if (s) {
        fprintf(f->out, "%s\n", s);
        fflush(f->out);
    }
    free(s);
    json_decref(line);
}

/* ---- the gateway ---------------------------------------------------------- */

struct delayed {
    struct fake *f;
    struct evhttp_request *req;
    int code;
    char *text;
    char retry_after[64];
};

static void delayed_fire(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct delayed *d = arg;
    if (d->retry_after[0])
        evhttp_add_header(evhttp_request_get_output_headers(d->req), "Retry-After", d->retry_after);
    reply_text(d->f, d->req, d->code, d->text);
    if (d->code >= 0 && d->code < FAKE_CODES)
        d->f->by_status[d->code]++;
    if (d->f->inflight)
        d->f->inflight--;
    free(d->text);
    free(d);
}

/* Answers now, or delay_ms later. */
static void answer(struct fake *f, struct evhttp_request *req, int code, const char *text,
                   int retry_after)
{
    struct delayed *d = calloc(1, sizeof(*d));
    if (!d)
        return;
    d->f = f;
    d->req = req;
    d->code = code;
    d->text = strdup(text);
    if (retry_after > 0 && f->retry_after_date) {
        time_t at = time(NULL) + retry_after;
        struct tm tm;
        gmtime_r(&at, &tm);
        strftime(d->retry_after, sizeof(d->retry_after), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    } else if (retry_after > 0) {
        snprintf(d->retry_after, sizeof(d->retry_after), "%d", retry_after);
    }
    f->inflight++;
    if (f->inflight > f->inflight_max)
        f->inflight_max = f->inflight;
    if (f->delay_ms <= 0) {
        delayed_fire(-1, 0, d);
        return;
    }
    struct timeval tv = {f->delay_ms / 1000, (f->delay_ms % 1000) * 1000};
    event_base_once(f->base, -1, EV_TIMEOUT, delayed_fire, d, &tv);
}

/* Decides the gateway's answer for a webhook POST. */
static void handle_webhook(struct fake *f, struct evhttp_request *req, char *key, int64_t t)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    const unsigned char *raw = len ? evbuffer_pullup(in, -1) : (const unsigned char *)"";
    unsigned char *inflated = NULL;
    int code = 200;
    const char *text = "OK";
    int retry_after = 0, ks = key_status_of(f, key);

    if (!key) {
        code = 401, text = "failed to read writekey from query params\n";
    } else if (ks) {
        code = ks, retry_after = f->retry_after;
        text = ks == 401   ? "invalid write key\n"
               : ks == 404 ? "source is disabled\n"
                           : "injected failure for this write key\n";
    } else if (f->reject_keys || !key_accepted(f, key)) {
        code = 401, text = "invalid write key\n";
    } else if (f->disabled) {
        code = 404, text = "source is disabled\n";
    } else {
        const char *enc =
            evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Encoding");
        if (enc && !strcmp(enc, "gzip") && f->refuse_gzip) {
            code = f->refuse_gzip, text = "unsupported content encoding\n";
        } else if (enc && !strcmp(enc, "gzip")) { /* exactly: see the top */
            bool too_big;
            inflated = gunzip(raw, len, f->max_body, &len, &too_big);
            if (!inflated) /* past max_body inflated, the wrapper is surely over it */
                code = too_big ? 413 : 500,
                text = too_big ? "request size exceeds max limit\n" : "gzip: invalid header\n";
            raw = inflated;
        }
    }
    if (code == 200 && envelope_len(req, raw, len) > f->max_body)
        code = 413, text = "request size exceeds max limit\n";
    if (code == 200 && f->marker && memmem(raw, len, f->marker, strlen(f->marker)))
        code = f->marker_status,
        text = code == 400 ? "event rejected: marker\n" : "injected failure for a marked body\n";

    yajl_val doc = NULL, events = NULL;
    if (code == 200 && !f->no_parse) {
        /* yajl_tree wants a C string; a raw NUL ends it early (then 400). */
        char *copy = malloc(len + 1), errbuf[128];
        if (copy) {
            memcpy(copy, raw, len);
            copy[len] = 0;
            doc = yajl_tree_parse(copy, errbuf, sizeof(errbuf));
            free(copy);
        }
        events = yajl_member(doc, "events");
        if (!doc)
            code = 400, text = "Malformed JSON in request body\n";
        else if (!YAJL_IS_OBJECT(doc) || !YAJL_IS_ARRAY(events))
            code = 400, text = "eventList should be an array\n";
        else {
            size_t i, n = YAJL_GET_ARRAY(events)->len, kept = 0;
            for (i = 0; i < n; i++)
                kept += event_has_user(YAJL_GET_ARRAY(events)->values[i]);
            if (n == 0)
                code = 400, text = "empty batch payload\n";
            else if (kept == 0)
                code = 400, text = "All requests in the batch failed\n";
        }
    }
    if (code == 200)
        record_accepted(f, t, key, raw, len, events, inflated != NULL);
    log_request(f, t, code, len, key);
    answer(f, req, code, text, retry_after);
    yajl_tree_free(doc);
    free(inflated);
}

static void handle_control(struct fake *f, struct evhttp_request *req, const char *query)
{
    struct evkeyvalq q;
    if (!query || evhttp_parse_query_str(query, &q) != 0) {
        reply_text(f, req, 400, "bad query\n");
        return;
    }
    for (struct evkeyval *kv = q.tqh_first; kv; kv = kv->next.tqe_next) {
        if (fake_set(f, kv->key, kv->value) != 0) {
            char msg[256];
            snprintf(msg, sizeof(msg), "bad setting %s=%s\n", kv->key, kv->value);
            evhttp_clear_headers(&q);
            reply_text(f, req, 400, msg);
            return;
        }
    }
    evhttp_clear_headers(&q);
    reply_text(f, req, 200, "OK");
}

static void handle_stats(struct fake *f, struct evhttp_request *req)
{
    json_t *codes = json_object();
    for (int i = 0; i < FAKE_CODES; i++)
        if (f->by_status[i]) {
            char k[8];
            snprintf(k, sizeof(k), "%d", i);
            json_object_set_new(codes, k, json_integer((json_int_t)f->by_status[i]));
        }
    json_t *o = json_pack("{s:I,s:o,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "requests",
                          (json_int_t)f->requests, "by_status", codes, "accepted_requests",
                          (json_int_t)f->accepted_requests, "accepted_events",
                          (json_int_t)f->accepted_events, "accepted_bytes",
                          (json_int_t)f->accepted_bytes, "closed", (json_int_t)f->closed, "hung",
                          (json_int_t)f->nhung, "hung_total", (json_int_t)f->hung_total, "inflight",
                          (json_int_t)f->inflight, "inflight_max", (json_int_t)f->inflight_max,
                          "first_ms", (json_int_t)f->first_ms, "last_ms", (json_int_t)f->last_ms);
    char *s = json_dumps(o, JSON_COMPACT);
    struct evbuffer *b = evbuffer_new();
    evbuffer_add_printf(b, "%s\n", s ? s : "{}");
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evhttp_send_reply(req, 200, "OK", b);
    evbuffer_free(b);
    free(s);
    json_decref(o);
}

/* A request to the gateway itself (not /_control or /_stats). */
static void serve(struct fake *f, struct evhttp_request *req, const char *path, char *key,
                  int64_t t)
{
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    f->requests++;
    if (!f->first_ms)
        f->first_ms = t;
    f->last_ms = t;
    size_t len = evbuffer_get_length(evhttp_request_get_input_buffer(req));
    if (f->close_next) {
        if (f->close_next > 0)
            f->close_next--;
        f->closed++;
        log_request(f, t, 0, len, key);
        close_without_answer(req);
        return;
    }
    if (f->hang) {
        if (f->hang > 0)
            f->hang--;
        if (f->nhung == f->caphung) {
            size_t cap = f->caphung ? f->caphung * 2 : 64;
            struct evhttp_request **p = realloc(f->hung, cap * sizeof(*p));
            if (!p) {
                reply_text(f, req, 500, "out of memory\n");
                return;
            }
            f->hung = p, f->caphung = cap;
        }
        f->hung[f->nhung++] = req;
        f->hung_total++;
        f->inflight++;
        if (f->inflight > f->inflight_max)
            f->inflight_max = f->inflight;
        log_request(f, t, 0, len, key);
        return;
    }
    if (f->fail) {
        if (f->fail > 0)
            f->fail--;
        char text[64];
        snprintf(text, sizeof(text), "injected failure %d\n", f->fail_status);
        log_request(f, t, f->fail_status, len, key);
        answer(f, req, f->fail_status, text, f->retry_after);
        return;
    }
    if (strcmp(path, "/v1/webhook") != 0) {
        log_request(f, t, 404, len, key);
        answer(f, req, 404, "404 page not found\n", 0);
        return;
    }
    if (cmd == EVHTTP_REQ_GET) {
        log_request(f, t, 200, 0, key);
        answer(f, req, 200, "", 0);
        return;
    }
    if (cmd != EVHTTP_REQ_POST) {
        log_request(f, t, 405, len, key);
        answer(f, req, 405, "method not allowed\n", 0);
        return;
    }
    handle_webhook(f, req, key, t);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct fake *f = arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
    int64_t t = now_ms();

    if (!path)
        path = "/";
    if (!strcmp(path, "/_control")) {
        handle_control(f, req, query);
        return;
    }
    if (!strcmp(path, "/_stats")) {
        handle_stats(f, req);
        return;
    }
    char *key = request_write_key(req, query);
    serve(f, req, path, key, t);
    free(key);
}

/* ---- main ----------------------------------------------------------------- */

static void on_signal(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    event_base_loopexit(arg, NULL);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: fake-rudderstack --listen 127.0.0.1:PORT [--out FILE] [--log FILE]\n"
            "       [--bodies DIR] [--write-key K]... [--max-body BYTES] [--no-parse]\n"
            "       [--fail N] [--fail-status S] [--retry-after SECS] [--delay-ms N]\n"
            "       [--hang N] [--close N] [--marker TEXT] [--marker-status S] [--outage S]\n"
            "       [--key-status KEY=S]... [--reject-keys 0|1] [--disabled 0|1]\n"
            "Steering at run time: POST /_control?key=value; counters: GET /_stats\n");
}

int main(int argc, char **argv)
{
    static struct fake f;
    const char *listen_at = "127.0.0.1:8090";
    f.max_body = 4000 * 1024;
    f.fail_status = 503;
    f.marker_status = 400;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--no-parse")) {
            f.no_parse = true;
            continue;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage();
            return 0;
        }
        if (strncmp(a, "--", 2) != 0 || i + 1 >= argc) {
            usage();
            return 2;
        }
        const char *v = argv[++i];
        if (!strcmp(a, "--listen"))
            listen_at = v;
        else if (!strcmp(a, "--out")) {
            if (!(f.out = fopen(v, "a"))) {
                perror(v);
                return 1;
            }
        } else if (!strcmp(a, "--log")) {
            if (!(f.log = fopen(v, "a"))) {
                perror(v);
                return 1;
            }
        } else if (!strcmp(a, "--bodies")) {
            mkdir(v, 0755);
            f.bodies_dir = strdup(v);
        } else if (fake_set(&f, a + 2, v) != 0) {
            fprintf(stderr, "fake-rudderstack: bad option %s %s\n", a, v);
            return 2;
        }
    }

    char host[128];
    const char *colon = strrchr(listen_at, ':');
    if (!colon || (size_t)(colon - listen_at) >= sizeof(host)) {
        fprintf(stderr, "fake-rudderstack: --listen wants HOST:PORT\n");
        return 2;
    }
    memcpy(host, listen_at, (size_t)(colon - listen_at));
    host[colon - listen_at] = 0;
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    if (inet_pton(AF_INET, host, &sin.sin_addr) != 1) {
        fprintf(stderr, "fake-rudderstack: --listen wants an IPv4 address\n");
        return 2;
    }

    signal(SIGPIPE, SIG_IGN);
    f.base = event_base_new();
    struct evhttp *http = evhttp_new(f.base);
    /* A deep backlog: benchmarks and tests open many connections at once. */
    struct evconnlistener *lst = evconnlistener_new_bind(
        f.base, NULL, NULL, LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 4096,
        (struct sockaddr *)&sin, sizeof(sin));
    if (!f.base || !http || !lst || !evhttp_bind_listener(http, lst)) {
        fprintf(stderr, "fake-rudderstack: cannot listen on %s: %s\n", listen_at, strerror(errno));
        return 1;
    }
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                         EVHTTP_REQ_HEAD | EVHTTP_REQ_DELETE);
    evhttp_set_timeout(http, 600);
    evhttp_set_gencb(http, on_request, &f);
    struct event *sig_int = evsignal_new(f.base, SIGINT, on_signal, f.base);
    struct event *sig_term = evsignal_new(f.base, SIGTERM, on_signal, f.base);
    event_add(sig_int, NULL);
    event_add(sig_term, NULL);
    fprintf(stderr, "fake-rudderstack: listening on %s\n", listen_at);
    event_base_dispatch(f.base);

    event_free(sig_int);
    event_free(sig_term);
    evhttp_free(http);
    event_base_free(f.base);
    if (f.out)
        fclose(f.out);
    if (f.log)
        fclose(f.log);
    return 0;
}
