/*
 * fuzz_ingest.c - libFuzzer harness for the request path of ingest: an
 * optional gzip layer (inflated with a size cap, as ingest does for
 * Content-Encoding: gzip), batch_validate, then on accepted bodies the
 * indexing (batch_scan), the rejoin (batch_join) and the record round trip
 * (record_encode / record_decode) that storage applies to every stored batch.
 *
 * Properties: no memory error, leak or UB anywhere; a rejection carries a
 * message; an accepted body scans to exactly summary.events spans that lie
 * inside the body; joining all events gives a body that validates to the same
 * count with byte-identical events; a record decodes to what was encoded, and
 * any single flipped byte is detected.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "batch.h"
#include "fuzz_util.h"
#include "record.h"

/* Decompressed bytes allowed. Ingest caps at max_body (32M by default);
 * a smaller cap keeps the fuzzer fast and still exercises the cut-off. */
#define FUZZ_INFLATE_CAP (1u << 20)

/* Inflates a gzip body into a malloc'd buffer. Returns 0, 1 when the output
 * would pass the cap (ingest answers 413), -1 for a broken stream (400). */
static int inflate_capped(const uint8_t *in, size_t len, unsigned char **out, size_t *out_len)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
        return -1;
    size_t cap = 4096, used = 0;
    unsigned char *buf = malloc(cap);
    int rc = -1;
    if (!buf)
        goto done;
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)len;
    for (;;) {
        if (used == cap) {
            if (cap >= FUZZ_INFLATE_CAP) {
                rc = 1;
                goto done;
            }
            size_t ncap = cap * 2 > FUZZ_INFLATE_CAP ? FUZZ_INFLATE_CAP : cap * 2;
            unsigned char *nb = realloc(buf, ncap);
            if (!nb)
                goto done;
            buf = nb;
            cap = ncap;
        }
        zs.next_out = buf + used;
        zs.avail_out = (uInt)(cap - used);
        int zr = inflate(&zs, Z_NO_FLUSH);
        used = cap - zs.avail_out;
        if (zr == Z_STREAM_END) {
            /* Trailing bytes after the gzip member are refused. */
            rc = zs.avail_in == 0 ? 0 : -1;
            break;
        }
        if (zr != Z_OK && !(zr == Z_BUF_ERROR && zs.avail_out == 0))
            goto done;
        if (zr == Z_OK && zs.avail_in == 0 && zs.avail_out != 0)
            goto done; /* truncated stream */
    }
done:
    inflateEnd(&zs);
    if (rc == 0) {
        *out = buf;
        *out_len = used;
    } else {
        free(buf);
    }
    return rc;
}

static void check_record_round_trip(const unsigned char *body, size_t len,
                                    const struct batch_summary *s)
{
    static const char key[] = "fuzz-write-key";
    struct record in = {
        .version = RECORD_VERSION,
        .flags = 0,
        .event_count = s->events,
        .received_ms = 1767225600123 + (int64_t)len,
        .origin_seq = len,
        .write_key = key,
        .write_key_len = sizeof key - 1,
        .types = s->types,
        .types_len = s->types_len,
        .body = body,
        .body_len = len,
    };
    size_t size = record_size(&in);
    FUZZ_CHECK(size >= RECORD_HEADER_SIZE + len, "record_size %zu for body %zu", size, len);
    unsigned char *buf = malloc(size);
    FUZZ_CHECK(buf != NULL, "oom");
    size_t wrote = record_encode(&in, buf);
    FUZZ_CHECK(wrote == size, "encode wrote %zu of %zu", wrote, size);

    struct record out;
    int rc = record_decode(buf, size, &out);
    FUZZ_CHECK(rc == RECORD_OK, "decode of a fresh record: %s", record_strerror(rc));
    FUZZ_CHECK(out.body_len == len && memcmp(out.body, body, len) == 0, "body changed");
    FUZZ_CHECK(out.write_key_len == in.write_key_len &&
                   memcmp(out.write_key, key, in.write_key_len) == 0,
               "write key changed");
    FUZZ_CHECK(out.event_count == in.event_count, "event count changed");
    FUZZ_CHECK(out.received_ms == in.received_ms, "time changed");
    FUZZ_CHECK(out.origin_seq == in.origin_seq, "origin changed");
    if (s->types_len <= RECORD_TYPES_MAX) {
        FUZZ_CHECK(out.types_len == s->types_len && memcmp(out.types, s->types, s->types_len) == 0,
                   "types changed");
        FUZZ_CHECK(!(out.flags & RECORD_F_TYPES_CUT), "types flagged cut");
    } else {
        FUZZ_CHECK(out.flags & RECORD_F_TYPES_CUT, "long types not flagged cut");
        FUZZ_CHECK(out.types_len <= RECORD_TYPES_MAX &&
                       memcmp(out.types, s->types, out.types_len) == 0,
                   "cut types are not a prefix");
    }

    /* One changed byte anywhere must be caught (CRC32 catches every burst of
     * 32 bits or less; the lengths are under the header CRC). */
    size_t pos = (len * 2654435761u) % size;
    buf[pos] ^= (unsigned char)(1u + (len % 255));
    rc = record_decode(buf, size, &out);
    FUZZ_CHECK(rc != RECORD_OK, "flipped byte %zu of %zu not detected", pos, size);
    free(buf);
}

static void check_accepted(const unsigned char *body, size_t len, const struct batch_summary *s)
{
    FUZZ_CHECK(s->events > 0, "BATCH_OK with 0 events");
    FUZZ_CHECK(s->types != NULL, "types NULL");
    FUZZ_CHECK(strlen(s->types) == s->types_len, "types_len %zu, strlen %zu", s->types_len,
               strlen(s->types));
    for (size_t i = 0; i < s->types_len; i++)
        FUZZ_CHECK((unsigned char)s->types[i] >= 0x20 || s->types[i] == '\n',
                   "control byte 0x%02x in types", (unsigned char)s->types[i]);

    struct batch_event *ev = NULL;
    size_t n = 0;
    int rc = batch_scan(body, len, &ev, &n);
    FUZZ_CHECK(rc == BATCH_OK, "scan of a validated body: %d", rc);
    FUZZ_CHECK(n == s->events, "scan found %zu events, validate %u", n, s->events);
    for (size_t i = 0; i < n; i++) {
        FUZZ_CHECK(ev[i].len > 0 && fuzz_span_inside(ev[i].off, ev[i].len, len), "event %zu span",
                   i);
        FUZZ_CHECK(i == 0 || ev[i].off >= ev[i - 1].off + ev[i - 1].len, "event %zu overlaps", i);
        if (ev[i].id_len)
            FUZZ_CHECK(ev[i].id_off > ev[i].off &&
                           ev[i].id_off + ev[i].id_len < ev[i].off + ev[i].len,
                       "id of event %zu outside it", i);
        if (ev[i].type_len)
            FUZZ_CHECK(ev[i].type_off > ev[i].off &&
                           ev[i].type_off + ev[i].type_len < ev[i].off + ev[i].len,
                       "type of event %zu outside it", i);
    }

    char *types = NULL;
    size_t types_len = 0;
    rc = batch_types(body, ev, n, &types, &types_len);
    FUZZ_CHECK(rc == BATCH_OK, "batch_types: %d", rc);
    FUZZ_CHECK(types_len == s->types_len && memcmp(types, s->types, types_len) == 0,
               "batch_types over all events differs from the summary");
    free(types);

    unsigned char *joined = NULL;
    size_t joined_len = 0;
    rc = batch_join(body, ev, n, &joined, &joined_len);
    FUZZ_CHECK(rc == BATCH_OK, "batch_join: %d", rc);
    struct batch_summary js = {0};
    char err[256];
    rc = batch_validate(joined, joined_len, &js, err, sizeof err);
    FUZZ_CHECK(rc == BATCH_OK && js.events == s->events, "joined body: rc %d, %u events (%s)", rc,
               js.events, rc < 0 ? err : "");
    struct batch_event *jev = NULL;
    size_t jn = 0;
    rc = batch_scan(joined, joined_len, &jev, &jn);
    FUZZ_CHECK(rc == BATCH_OK && jn == n, "joined scan");
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK(jev[i].len == ev[i].len &&
                       memcmp(joined + jev[i].off, body + ev[i].off, ev[i].len) == 0,
                   "event %zu bytes changed by join", i);
    free(jev);
    free(js.types);
    free(joined);
    free(ev);

    check_record_round_trip(body, len, s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *inflated = NULL;
    const unsigned char *body = data;
    size_t len = size;
    if (size >= 2 && data[0] == 0x1f && data[1] == 0x8b) {
        if (inflate_capped(data, size, &inflated, &len) != 0)
            return 0; /* 400 or 413: nothing reaches the validator */
        body = inflated;
    }

    struct batch_summary s = {0};
    char err[256];
    memset(err, 0x55, sizeof err);
    int rc = batch_validate(body, len, &s, err, sizeof err);
    if (rc == BATCH_OK) {
        check_accepted(body, len, &s);
    } else if (rc == BATCH_EMPTY) {
        FUZZ_CHECK(s.events == 0, "BATCH_EMPTY with %u events", s.events);
    } else {
        FUZZ_CHECK(rc == BATCH_INVALID_JSON || rc == BATCH_INVALID_SHAPE || rc == BATCH_NOMEM,
                   "unknown status %d", rc);
        FUZZ_CHECK(memchr(err, '\0', sizeof err) != NULL && err[0] != '\0',
                   "rejection without a message");
    }
    free(s.types);
    free(inflated);
    return 0;
}
