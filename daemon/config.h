/*
 * config.h - eddyd's configuration: built-in defaults, then the INI file
 * (inih), then command-line flags. Every key of DESIGN.md "Config".
 */
#ifndef EDDY_CONFIG_H
#define EDDY_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_LIST_MAX 16 /* paths, tokens, write keys */

struct config {
    /* [ingest] */
    char listen[128];
    char *paths[CONFIG_LIST_MAX];
    size_t npaths;
    char *tokens[CONFIG_LIST_MAX];
    size_t ntokens;
    char *write_keys[CONFIG_LIST_MAX];
    size_t nwrite_keys;
    bool allow_anonymous;
    uint64_t max_body; /* bytes, decompressed */
    /* [admin] */
    char admin_listen[128];
    /* [storage] */
    char data_dir[1024];
    uint64_t max_size; /* LMDB map size */
    double high_water; /* 0 < x <= 1 */
    bool sync_full;    /* sync = full | none */
    bool compress;     /* compress = gzip | none: how batches are stored */
    /* [delivery] */
    char url[1024];
    char write_key[256];
    unsigned concurrency;
    uint64_t timeout_ms;
    unsigned max_attempts;
    uint64_t retry_window_ms;
    uint64_t backoff_min_ms;
    uint64_t backoff_max_ms;
    uint64_t max_batch_bytes;
    bool require_external_user_id;
    /* where it came from, for messages */
    char source[1024];
};

/* Fills c with the built-in defaults. */
void config_defaults(struct config *c);

/* Reads an INI file over c. Unknown sections/keys and bad values fail with
 * "FILE:LINE: key: what is wrong" in err. Returns 0 or -1. */
int config_load_file(struct config *c, const char *path, char *err, size_t errlen);

/* Applies one setting by section and key (used by the file loader and by
 * flags). Returns 0 or -1 with the reason in err. */
int config_set(struct config *c, const char *section, const char *key, const char *value, char *err,
               size_t errlen);

/* Checks the whole config for consistency (auth configured or
 * allow_anonymous, high_water range, URL scheme...). Returns 0 or -1. */
int config_validate(const struct config *c, char *err, size_t errlen);

/* "32M", "8G", "1024" -> bytes; "100ms", "30s", "5m", "72h", "2d" -> ms.
 * Return 0 or -1. */
int config_parse_size(const char *s, uint64_t *out);
int config_parse_duration(const char *s, uint64_t *out_ms);

/* "host:port" or "[v6]:port" -> host, port. Returns 0 or -1. */
int config_split_hostport(const char *s, char *host, size_t hostlen, uint16_t *port);

void config_free(struct config *c);

#endif
