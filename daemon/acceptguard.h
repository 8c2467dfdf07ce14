/*
 * acceptguard.h - what a listener does when accept(2) fails: out of file
 * descriptors (EMFILE/ENFILE) it stops accepting for a short while instead of
 * retrying at once (libevent's default: a busy loop and a log line per
 * attempt), logs at most once a second, and can keep one spare descriptor to
 * give up so that a listener that must keep answering (admin) still can.
 */
#ifndef EDDY_ACCEPTGUARD_H
#define EDDY_ACCEPTGUARD_H

#include <stdbool.h>

#include <event2/event.h>
#include <event2/listener.h>

struct accept_guard;

/* Watches lev (which runs on base). name starts the log lines. With
 * reserve, a descriptor is held open and released at the first EMFILE or
 * ENFILE, so the connection waiting is accepted; it is taken back once
 * descriptors are free again. Returns NULL when out of memory. */
struct accept_guard *accept_guard_new(struct event_base *base, struct evconnlistener *lev,
                                      const char *name, bool reserve);

/* Takes the spare descriptor back now if it was given up (call after a
 * connection of this listener closed, so that no other listener gets its
 * descriptor first); otherwise it is retried every 100 ms. */
void accept_guard_reclaim(struct accept_guard *g);

/* Detaches from the listener (call before the listener is freed). */
void accept_guard_free(struct accept_guard *g);

#endif
