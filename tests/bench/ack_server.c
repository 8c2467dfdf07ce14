/*
 * ack_server.c - the ingest benchmark's ceiling: a libevent evhttp server
 * configured like eddyd's ingest listener that reads each POST body and
 * answers 200 with a small JSON, storing nothing. eddyd can be no faster
 * than this on the same machine, so the benchmark reports eddyd's rate as
 * a fraction of it.
 *
 * usage: ack_server HOST PORT   (runs until SIGTERM/SIGINT)
 */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

static void ack_on_request(struct evhttp_request *req, void *arg)
{
    (void)arg;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    evbuffer_drain(in, len);
    struct evbuffer *out = evbuffer_new();
    evbuffer_add_printf(out, "{\"status\":\"ok\",\"bytes\":%zu}\n", len);
    evhttp_send_reply(req, 200, "OK", out);
    evbuffer_free(out);
}

static void ack_on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)sig, (void)what;
    event_base_loopexit(arg, NULL);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: ack_server HOST PORT\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    struct event_base *base = event_base_new();
    struct evhttp *http = evhttp_new(base);
    if (!base || !http)
        return 1;
    evhttp_set_max_body_size(http, 64 << 20);
    evhttp_set_max_headers_size(http, 64 << 10);
    evhttp_set_timeout(http, 30);
    evhttp_set_flags(http, EVHTTP_SERVER_LINGERING_CLOSE);
    evhttp_set_default_content_type(http, "application/json");
    evhttp_set_gencb(http, ack_on_request, NULL);
    if (evhttp_bind_socket(http, argv[1], (ev_uint16_t)atoi(argv[2])) != 0) {
        fprintf(stderr, "ack_server: cannot listen on %s:%s\n", argv[1], argv[2]);
        return 1;
    }
    struct event *t = evsignal_new(base, SIGTERM, ack_on_signal, base);
    struct event *i = evsignal_new(base, SIGINT, ack_on_signal, base);
    event_add(t, NULL);
    event_add(i, NULL);
    event_base_dispatch(base);
    event_free(t);
    event_free(i);
    evhttp_free(http);
    event_base_free(base);
    return 0;
}
