/*
 * jsonfmt.c - re-indenting bodies with yajl (see jsonfmt.h for why not
 * jansson), the UTF-8 check that decides whether an export line may embed a
 * body verbatim, and base64 for the bodies that may not.
 */
#include "jsonfmt.h"

#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_parse.h>

#define GEN(call) return (call) == yajl_gen_status_ok

static int on_null(void *g)
{
    GEN(yajl_gen_null(g));
}
static int on_bool(void *g, int v)
{
    GEN(yajl_gen_bool(g, v));
}
static int on_number(void *g, const char *s, size_t len)
{
    GEN(yajl_gen_number(g, s, len));
}
static int on_string(void *g, const unsigned char *s, size_t len)
{
    GEN(yajl_gen_string(g, s, len));
}
static int on_map_open(void *g)
{
    GEN(yajl_gen_map_open(g));
}
static int on_map_close(void *g)
{
    GEN(yajl_gen_map_close(g));
}
static int on_array_open(void *g)
{
    GEN(yajl_gen_array_open(g));
}
static int on_array_close(void *g)
{
    GEN(yajl_gen_array_close(g));
}

/* With yajl_number set, yajl hands every number over as its source text and
 * never calls the integer/double callbacks: nothing is converted. */
static const yajl_callbacks reformat_callbacks = {
    .yajl_null = on_null,
    .yajl_boolean = on_bool,
    .yajl_number = on_number,
    .yajl_string = on_string,
    .yajl_start_map = on_map_open,
    .yajl_map_key = on_string,
    .yajl_end_map = on_map_close,
    .yajl_start_array = on_array_open,
    .yajl_end_array = on_array_close,
};

/* Runs in through parser -> generator. gen may be NULL (validation only). */
static int run(const unsigned char *in, size_t len, yajl_gen gen, bool validate_utf8)
{
    yajl_handle h = yajl_alloc(gen ? &reformat_callbacks : NULL, NULL, gen);
    if (!h)
        return -1;
    yajl_config(h, yajl_dont_validate_strings, validate_utf8 ? 0 : 1);
    int rc = (yajl_parse(h, in, len) == yajl_status_ok && yajl_complete_parse(h) == yajl_status_ok)
                 ? 0
                 : -1;
    yajl_free(h);
    return rc;
}

int jsonfmt_pretty(const unsigned char *in, size_t len, char **out, size_t *outlen)
{
    yajl_gen g = yajl_gen_alloc(NULL);
    if (!g)
        return -1;
    yajl_gen_config(g, yajl_gen_beautify, 1);
    yajl_gen_config(g, yajl_gen_indent_string, "  ");
    yajl_gen_config(g, yajl_gen_validate_utf8, 0); /* show bytes as stored */
    int rc = run(in, len, g, false);
    if (rc == 0) {
        const unsigned char *buf;
        size_t n;
        yajl_gen_get_buf(g, &buf, &n);
        *out = malloc(n + 1);
        if (!*out) {
            rc = -1;
        } else {
            memcpy(*out, buf, n);
            (*out)[n] = '\0';
            *outlen = n;
        }
    }
    yajl_gen_free(g);
    return rc;
}

bool jsonfmt_embeddable(const unsigned char *in, size_t len)
{
    return run(in, len, NULL, true) == 0;
}

void jsonfmt_embed(const unsigned char *in, size_t len, char *out)
{
    for (size_t i = 0; i < len; i++)
        out[i] = (in[i] == '\n' || in[i] == '\r') ? ' ' : (char)in[i];
}

char *jsonfmt_base64(const unsigned char *in, size_t len)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc((len + 2) / 3 * 4 + 1), *p = out;
    if (!out)
        return NULL;
    size_t i = 0;
    for (; i + 2 < len; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        *p++ = alphabet[v >> 18 & 63];
        *p++ = alphabet[v >> 12 & 63];
        *p++ = alphabet[v >> 6 & 63];
        *p++ = alphabet[v & 63];
    }
    if (i < len) {
        unsigned v = (unsigned)in[i] << 16 | (i + 1 < len ? (unsigned)in[i + 1] << 8 : 0);
        *p++ = alphabet[v >> 18 & 63];
        *p++ = alphabet[v >> 12 & 63];
        *p++ = i + 1 < len ? alphabet[v >> 6 & 63] : '=';
        *p++ = '=';
    }
    *p = '\0';
    return out;
}
