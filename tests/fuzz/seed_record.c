/*
 * seed_record.c - writes fuzz_record's seeds: each file named on the command
 * line, encoded as a record (with a write key and a types list), into
 * OUT_DIR/<basename>.rec; every other one gzip-compressed as eddyd stores
 * bodies, half of those with the types list packed too as ingest packs it
 * (version 3), the rest as version 2. Built and run by tests/fuzz/run.sh.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compress.h"
#include "record.h"

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: seed_record OUT_DIR FILE...\n");
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f)
            continue;
        static unsigned char body[1 << 16];
        size_t len = fread(body, 1, sizeof body, f);
        fclose(f);
        struct record r = {.version = RECORD_VERSION,
                           .flags = (uint8_t)(i % 8),
                           .event_count = (uint32_t)i,
                           .received_ms = 1767225600000 + i,
                           .origin_seq = (uint64_t)(i % 3),
                           .write_key = "seed-key",
                           .write_key_len = 8,
                           .types = "users.messages.email.Send\nusers.behaviors.CustomEvent",
                           .types_len = 53,
                           .body = body,
                           .body_len = len};
        unsigned char *z = NULL, *tz = NULL;
        if (i % 2 && compress_gzip(body, len, &z, &r.stored_len) == COMPRESS_OK) {
            r.flags |= RECORD_F_GZIP;
            r.stored = z;
            if (i % 4 == 1 &&
                record_pack_types(r.types, r.types_len, &tz, &r.types_zlen) == COMPRESS_OK) {
                r.flags |= RECORD_F_TYPES_Z;
                r.types_z = tz;
            }
        }
        size_t n = record_size(&r);
        unsigned char *out = malloc(n);
        if (!out)
            return 1;
        record_encode(&r, out);
        const char *base = strrchr(argv[i], '/');
        char path[4096];
        snprintf(path, sizeof path, "%s/%s.rec", argv[1], base ? base + 1 : argv[i]);
        FILE *o = fopen(path, "wb");
        if (!o || fwrite(out, 1, n, o) != n) {
            perror(path);
            return 1;
        }
        fclose(o);
        free(out);
        free(z);
        free(tz);
    }
    return 0;
}
