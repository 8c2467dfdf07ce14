/*
 * admin.c - the admin HTTP listener on its own thread and event loop.
 *
 *   /healthz  200 while the process runs (liveness)
 *   /readyz   200 when the store is open, below high water, not failed and
 *             not shutting down; 503 with the reason otherwise (readiness:
 *             a load balancer stops sending while eddy cannot store)
 *   /metrics  Prometheus text (metrics_render + queue_stats)
 *   /status   status_json, the object `eddy status --json` prints
 *
 * The same thread refreshes eddyd's record in meta ("eddyd": when it last
 * ran, whether ingest accepts and why not) every ADMIN_RECORD_S seconds, so
 * `eddy status` never shows a stale picture as if it were current.
 */
#include "admin.h"

#include <errno.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "acceptguard.h"
#include "../storage/clock.h"
#include "log.h"
#include "status.h"

#define ADMIN_RECORD_S 5

struct admin {
    struct admin_options o;
    struct event_base *base;
    struct evhttp *http;
    struct accept_guard *guard; /* keeps a spare descriptor for when they run out */
    struct event *record_ev;
    bool record_failed; /* the last write of the record failed (logged once) */
    pthread_t thread;
    bool running;
};

static void send_reply(struct evhttp_request *req, int code, const char *ctype, const char *body)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", ctype);
    evhttp_add_header(h, "Cache-Control", "no-store");
    if (code == 405)
        evhttp_add_header(h, "Allow", "GET, HEAD");
    struct evbuffer *b = evbuffer_new();
    if (b)
        evbuffer_add(b, body, strlen(body));
    const char *reason = code == 200   ? "OK"
                         : code == 404 ? "Not Found"
                         : code == 405 ? "Method Not Allowed"
                                       : "Service Unavailable";
    evhttp_send_reply(req, code, reason, b);
    if (b)
        evbuffer_free(b);
}

/* Why eddy is not ready, or NULL when it is; *error gets the error code
 * ingest answers with then. */
static const char *not_ready(const struct admin *a, const char **error)
{
    *error = "shutting_down";
    if (!a->o.ingest || !ingest_accepting(a->o.ingest))
        return "shutting down";
    return a->o.committer ? committer_refusing(a->o.committer, error) : NULL;
}

/* Rewrites meta "eddyd" (embedded in the status object): one small commit
 * every few seconds. Also once the store is lost: eddyd's own /status then
 * says why it refuses. */
static void on_record(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct admin *a = arg;
    const char *error = NULL, *why = not_ready(a, &error);
    const char *failed = status_put_eddyd(a->o.queue, clock_wall_ms(), why ? error : NULL, why);
    if (failed && !a->record_failed)
        log_warn("cannot record eddyd's state for eddy status: %s", failed);
    a->record_failed = failed != NULL;
}

/* Admin thread, the loop turn after an admin connection closed: its
 * descriptor is free, so the spare is taken back before ingest can take it. */
static void reclaim_spare(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct admin *a = arg;
    accept_guard_reclaim(a->guard);
}

static void on_conn_closed(struct evhttp_connection *evcon, void *arg)
{
    (void)evcon;
    struct admin *a = arg;
    struct timeval now = {0, 0};
    event_base_once(a->base, -1, EV_TIMEOUT, reclaim_spare, a, &now);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct admin *a = arg;
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    if (evcon)
        evhttp_connection_set_closecb(evcon, on_conn_closed, a);
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    if (!path)
        path = "";
    bool known = strcmp(path, "/healthz") == 0 || strcmp(path, "/readyz") == 0 ||
                 strcmp(path, "/metrics") == 0 || strcmp(path, "/status") == 0;
    if (!known) {
        send_reply(req, 404, "application/json", "{\"error\":\"not_found\"}\n");
        return;
    }
    if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
        send_reply(req, 405, "application/json", "{\"error\":\"method_not_allowed\"}\n");
        return;
    }
    if (strcmp(path, "/healthz") == 0) {
        send_reply(req, 200, "application/json", "{\"status\":\"ok\"}\n");
    } else if (strcmp(path, "/readyz") == 0) {
        const char *error, *why = not_ready(a, &error);
        if (!why) {
            send_reply(req, 200, "application/json", "{\"status\":\"ready\"}\n");
        } else {
            /* The reason may name the data dir: encoded, not pasted. */
            json_t *o =
                json_pack("{s:s,s:s,s:s}", "status", "not_ready", "error", error, "reason", why);
            char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
            send_reply(req, 503, "application/json", body ? body : "{\"status\":\"not_ready\"}");
            free(body);
            json_decref(o);
        }
    } else if (strcmp(path, "/metrics") == 0) {
        struct queue_stats st;
        bool have = queue_stats(a->o.queue, &st) == QUEUE_OK;
        struct queue_source *src = NULL;
        size_t nsrc = 0;
        if (queue_sources(a->o.queue, &src, &nsrc) != QUEUE_OK)
            nsrc = 0;
        char *text = metrics_render(a->o.metrics, have ? &st : NULL, src, nsrc, clock_wall_ms());
        free(src);
        if (!text) {
            send_reply(req, 503, "application/json", "{\"error\":\"out_of_memory\"}\n");
            return;
        }
        send_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8", text);
        free(text);
    } else {
        char *json = NULL, err[256];
        if (status_json(a->o.queue, clock_wall_ms(), &json, err, sizeof(err)) != 0) {
            send_reply(req, 503, "application/json", "{\"error\":\"storage_error\"}\n");
            return;
        }
        size_t n = strlen(json);
        char *body = malloc(n + 2);
        if (!body) {
            free(json);
            send_reply(req, 503, "application/json", "{\"error\":\"out_of_memory\"}\n");
            return;
        }
        memcpy(body, json, n);
        body[n] = '\n';
        body[n + 1] = '\0';
        send_reply(req, 200, "application/json", body);
        free(body);
        free(json);
    }
}

static void *thread_main(void *arg)
{
    struct admin *a = arg;
    event_base_dispatch(a->base);
    return NULL;
}

int admin_start(struct admin **out, const struct admin_options *o, char *err, size_t errlen)
{
    struct admin *a = calloc(1, sizeof(*a));
    char host[128];
    uint16_t port;
    if (!a) {
        snprintf(err, errlen, "admin: out of memory");
        return -1;
    }
    a->o = *o;
    a->base = event_base_new();
    a->http = a->base ? evhttp_new(a->base) : NULL;
    if (!a->http) {
        snprintf(err, errlen, "admin: cannot create event loop");
        goto fail;
    }
    evhttp_set_max_body_size(a->http, 4096);
    evhttp_set_max_headers_size(a->http, 16 << 10);
    evhttp_set_timeout(a->http, 10);
    evhttp_set_default_content_type(a->http, "application/json");
    evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                            EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                            EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    evhttp_set_gencb(a->http, on_request, a);
    if (config_split_hostport(o->cfg->admin_listen, host, sizeof(host), &port) != 0) {
        snprintf(err, errlen, "admin: listen: \"%s\" is not HOST:PORT", o->cfg->admin_listen);
        goto fail;
    }
    struct evhttp_bound_socket *bound = evhttp_bind_socket_with_handle(a->http, host, port);
    if (!bound) {
        snprintf(err, errlen, "admin: cannot listen on %s: %s", o->cfg->admin_listen,
                 evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        goto fail;
    }
    /* /healthz must answer even when ingest connections took every
     * descriptor: the admin listener keeps one in reserve. */
    struct accept_guard_options go = {.base = a->base,
                                      .listener = evhttp_bound_socket_get_listener(bound),
                                      .name = "admin",
                                      .reserve = true};
    if (accept_guard_start(&a->guard, &go, err, errlen) != 0)
        goto fail;
    a->record_ev = event_new(a->base, -1, EV_PERSIST, on_record, a);
    struct timeval every = {ADMIN_RECORD_S, 0};
    if (!a->record_ev || event_add(a->record_ev, &every) != 0) {
        snprintf(err, errlen, "admin: cannot set up its timer");
        goto fail;
    }
    on_record(-1, 0, a);
    int rc = pthread_create(&a->thread, NULL, thread_main, a);
    if (rc != 0) {
        snprintf(err, errlen, "admin: cannot start thread: %s", strerror(rc));
        goto fail;
    }
    pthread_setname_np(a->thread, "eddyd-admin");
    a->running = true;
    *out = a;
    return 0;
fail:
    admin_stop(a);
    return -1;
}

void admin_stop(struct admin *a)
{
    if (!a)
        return;
    if (a->running) {
        event_base_loopexit(a->base, NULL); /* thread-safe: evthread_use_pthreads ran */
        pthread_join(a->thread, NULL);
    }
    accept_guard_free(a->guard);
    a->guard = NULL; /* closing connections below must not reclaim through it */
    if (a->record_ev)
        event_free(a->record_ev);
    if (a->http)
        evhttp_free(a->http);
    if (a->base)
        event_base_free(a->base);
    free(a);
}
