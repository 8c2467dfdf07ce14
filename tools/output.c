/*
 * output.c - tables and JSON lines for the CLI (see output.h). Tables are
 * buffered so every column can be as wide as its widest cell; listings that
 * must stream (export, --json) never go through a table.
 */
#include "output.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../storage/text.h"
#include "timefmt.h"

struct cli_table {
    size_t ncols, nrows, cap;
    char align[16];
    char **cells; /* nrows+1 rows (header first) of ncols */
    size_t *width;
};

static size_t utf8_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            w++;
    return w;
}

static int table_push(struct cli_table *t, const char *const *cells)
{
    if (t->nrows + 1 >= t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        char **c = realloc(t->cells, cap * t->ncols * sizeof *c);
        if (!c)
            return -1;
        t->cells = c;
        t->cap = cap;
    }
    char **row = t->cells + t->nrows * t->ncols;
    for (size_t i = 0; i < t->ncols; i++) {
        row[i] = strdup(cells[i] ? cells[i] : "");
        if (!row[i]) {
            while (i--)
                free(row[i]);
            return -1;
        }
        text_scrub(row[i], row[i], strlen(row[i]), '?');
        size_t w = utf8_width(row[i]);
        if (w > t->width[i])
            t->width[i] = w;
    }
    t->nrows++;
    return 0;
}

struct cli_table *cli_table_new(const char *const *headers, size_t ncols, const char *align)
{
    struct cli_table *t = calloc(1, sizeof *t);
    if (!t || ncols >= sizeof t->align)
        return free(t), NULL;
    t->ncols = ncols;
    for (size_t i = 0; i < ncols; i++)
        t->align[i] = align && align[i] == 'r' ? 'r' : 'l';
    t->width = calloc(ncols, sizeof *t->width);
    if (!t->width || table_push(t, headers) != 0) {
        cli_table_free(t);
        return NULL;
    }
    return t;
}

int cli_table_add(struct cli_table *t, const char *const *cells)
{
    return table_push(t, cells);
}

size_t cli_table_rows(const struct cli_table *t)
{
    return t->nrows - 1;
}

void cli_table_print(const struct cli_table *t, FILE *out)
{
    for (size_t r = 0; r < t->nrows; r++) {
        char **row = t->cells + r * t->ncols;
        for (size_t i = 0; i < t->ncols; i++) {
            size_t pad = t->width[i] - utf8_width(row[i]);
            bool last = i + 1 == t->ncols;
            if (i)
                fputs("  ", out);
            if (t->align[i] == 'r')
                fprintf(out, "%*s", (int)pad, "");
            fputs(row[i], out);
            if (t->align[i] != 'r' && !last)
                fprintf(out, "%*s", (int)pad, "");
        }
        fputc('\n', out);
    }
}

void cli_table_free(struct cli_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t->width);
    free(t);
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4, min = 0x10000;
    else
        return 0;
    if (n < len)
        return 0;
    unsigned cp = c & (0x7F >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

json_t *cli_json_string(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    char *buf = malloc(len * 3 + 1), *p = buf;
    if (!buf)
        return NULL;
    for (size_t i = 0; i < len;) {
        size_t k = utf8_seq(u + i, len - i);
        if (k == 0 || (k == 1 && u[i] == 0)) {
            memcpy(p, "\xEF\xBF\xBD", 3); /* U+FFFD */
            p += 3;
            i++;
        } else {
            memcpy(p, u + i, k);
            p += k;
            i += k;
        }
    }
    json_t *j = json_stringn(buf, (size_t)(p - buf));
    free(buf);
    return j;
}

int cli_json_print_line(json_t *o, FILE *out)
{
    if (!o)
        return -1;
    int rc = json_dumpf(o, out, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (rc == 0 && fputc('\n', out) == EOF)
        rc = -1;
    return rc;
}

json_t *cli_json_types(const char *types, size_t len)
{
    json_t *a = json_array();
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || types[i] == '\n') {
            if (i > start)
                json_array_append_new(a, cli_json_string(types + start, i - start));
            start = i + 1;
        }
    }
    return a;
}

static json_t *json_time(int64_t ms)
{
    char buf[TIMEFMT_RFC3339_LEN];
    return ms ? json_string(timefmt_rfc3339(ms, buf, sizeof buf)) : json_null();
}

json_t *cli_entry_json(const struct queue_entry *e, enum queue_db db, bool history)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer((json_int_t)e->id));
    if (e->status != RECORD_OK) {
        json_object_set_new(o, "corrupt", json_string(record_strerror(e->status)));
        return o;
    }
    const struct record *r = &e->rec;
    const struct queue_attempts *a = &e->attempts;
    json_object_set_new(o, "events", json_integer(r->event_count));
    json_object_set_new(o, "event_types", cli_json_types(r->types, r->types_len));
    if (r->flags & RECORD_F_TYPES_CUT)
        json_object_set_new(o, "event_types_cut", json_true());
    json_object_set_new(o, "bytes", json_integer((json_int_t)r->body_len));
    json_object_set_new(o, "received_at", json_time(r->received_ms));
    if (db == QUEUE_DEAD) {
        json_object_set_new(o, "dead_at", json_time(e->dead_ms));
        json_object_set_new(o, "reason",
                            cli_json_string(e->reason, strnlen(e->reason, sizeof e->reason)));
    }
    json_object_set_new(o, "last_status", json_integer(a->last_status));
    json_object_set_new(o, "attempts",
                        json_integer((json_int_t)a->counted + a->uncounted + a->network));
    json_object_set_new(o, "http_attempts", json_integer(a->counted));
    json_object_set_new(o, "counted", json_integer(a->counted));
    json_object_set_new(o, "uncounted", json_integer(a->uncounted));
    json_object_set_new(o, "network", json_integer(a->network));
    json_object_set_new(o, "first_failed_at", json_time(a->first_failed_ms));
    json_object_set_new(o, "last_failed_at", json_time(a->last_failed_ms));
    if (db == QUEUE_PENDING)
        json_object_set_new(o, "next_try_at", json_time(a->next_try_ms));
    json_object_set_new(
        o, "replays",
        json_integer(db == QUEUE_DEAD ? e->replays : (r->flags & RECORD_F_REPLAYED ? 1 : 0)));
    if (r->origin_seq)
        json_object_set_new(o, "origin_seq", json_integer((json_int_t)r->origin_seq));
    json_object_set_new(o, "split", json_boolean(r->flags & RECORD_F_SPLIT));
    if (history) {
        json_t *h = json_array();
        for (uint32_t i = 0; i < a->nhistory && i < QUEUE_HISTORY_MAX; i++) {
            const struct queue_attempt *t = &a->history[i];
            json_t *x = json_object();
            json_object_set_new(x, "at", json_time(t->at_ms));
            json_object_set_new(x, "status", json_integer(t->status));
            size_t n = t->answer_len < QUEUE_ANSWER_MAX ? t->answer_len : QUEUE_ANSWER_MAX;
            json_object_set_new(x, "answer", cli_json_string(t->answer, n));
            json_array_append_new(h, x);
        }
        json_object_set_new(o, "history", h);
        json_object_set_new(o, "history_dropped", json_integer(a->dropped));
    }
    return o;
}

char *cli_types_text(const char *types, size_t len, size_t max, char *buf, size_t cap)
{
    size_t o = 0;
    if (cap == 0)
        return buf;
    for (size_t i = 0; i < len && o + 1 < cap; i++) {
        if (types[i] == '\n') {
            if (o + 3 >= cap)
                break;
            buf[o++] = ',';
            buf[o++] = ' ';
        } else {
            buf[o++] = types[i];
        }
    }
    buf[o] = '\0';
    /* Cut on a character boundary so a table never shows half a UTF-8 char. */
    size_t w = 0, i = 0;
    for (; buf[i]; i++) {
        if (((unsigned char)buf[i] & 0xC0) != 0x80 && ++w > max)
            break;
    }
    if (buf[i] && max >= 3) {
        size_t cut = i;
        for (int k = 0; k < 3 && cut > 0; k++) {
            do
                cut--;
            while (cut > 0 && ((unsigned char)buf[cut] & 0xC0) == 0x80);
        }
        if (cut + 4 <= cap)
            memcpy(buf + cut, "...", 4);
    }
    return buf;
}
