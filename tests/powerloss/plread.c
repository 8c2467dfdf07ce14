/*
 * plread.c - prints the event ids a store holds, for the power-loss checker
 * (build/powerloss/plread DATA_DIR).
 *
 * Opens the store through storage/ (so a crash image is read exactly as
 * eddyd would read it after the power came back) and prints one line per
 * event: "P id" for events in pending, "D id" for dead letters. Exit 0 when
 * every record decoded; 3 when LMDB or the store cannot be opened; 4 when a
 * record is damaged or its body is not a batch (its line says which).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "../../storage/queue.h"

struct read_ctx {
    char tag;
    int damaged;
};

static int print_ids(void *arg, const struct queue_entry *e)
{
    struct read_ctx *c = arg;
    if (e->status != RECORD_OK) {
        printf("X %c %llu %s\n", c->tag, (unsigned long long)e->id, record_strerror(e->status));
        c->damaged = 1;
        return 0;
    }
    json_error_t jerr;
    json_t *doc = json_loadb((const char *)e->rec.body, e->rec.body_len, JSON_ALLOW_NUL, &jerr);
    json_t *events = json_object_get(doc, "events");
    if (!json_is_array(events)) {
        printf("X %c %llu body is not a batch: %s\n", c->tag, (unsigned long long)e->id, jerr.text);
        c->damaged = 1;
    }
    size_t i;
    json_t *ev;
    json_array_foreach(events, i, ev)
    {
        const char *id = json_string_value(json_object_get(ev, "id"));
        if (id)
            printf("%c %s\n", c->tag, id);
    }
    json_decref(doc);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: plread DATA_DIR\n");
        return 2;
    }
    static char out[1 << 20];
    setvbuf(stdout, out, _IOFBF, sizeof(out));
    struct queue_options o = {.dir = argv[1], .sync_full = true, .create = false};
    queue_t *q;
    char err[512];
    if (queue_open(&q, &o, err, sizeof(err)) != QUEUE_OK) {
        printf("X open %s\n", err);
        return 3;
    }
    struct read_ctx pending = {'P', 0}, dead = {'D', 0};
    int rc = queue_scan(q, QUEUE_PENDING, NULL, 0, 0, print_ids, &pending);
    if (rc == QUEUE_OK)
        rc = queue_scan(q, QUEUE_DEAD, NULL, 0, 0, print_ids, &dead);
    if (rc != QUEUE_OK)
        printf("X scan %s\n", queue_last_error());
    queue_close(q);
    return rc != QUEUE_OK || pending.damaged || dead.damaged ? 4 : 0;
}
