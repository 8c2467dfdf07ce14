/*
 * config.h - eddyd's configuration: built-in defaults, then the INI file
 * (inih), then command-line flags. Every key of DESIGN.md "Config" is one
 * row of a table in config.c, so the file, the flags, the checks, the error
 * messages and a SIGHUP reload all treat a key the same way.
 */
#ifndef EDDY_CONFIG_H
#define EDDY_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_KEYS_MAX 40 /* rows of the key table (config.c checks it fits) */

/* How a changed key takes effect on SIGHUP (config_changes). */
enum config_live {
    CONFIG_RESTART = 0,       /* only at the next start */
    CONFIG_LIVE_AUTH = 1,     /* ingest credentials: swapped at once */
    CONFIG_LIVE_DELIVERY = 2, /* delivery settings that can change while it runs */
};

/* [storage] compress_level: auto picks small for a body that is the only
 * one being validated and fast when others are, so compression never sets
 * the ingest rate. */
enum config_level {
    CONFIG_LEVEL_AUTO = 0,
    CONFIG_LEVEL_SMALL = 1, /* libdeflate 8: the fewest pages */
    CONFIG_LEVEL_FAST = 2,  /* igzip 1: ~9x less CPU per body */
};

struct config {
    /* [ingest] */
    char listen[128];
    char **paths; /* lists: n entries, each a malloc'd string */
    size_t npaths;
    char **tokens;
    size_t ntokens;
    char **write_keys;
    size_t nwrite_keys;
    bool allow_anonymous;
    uint64_t max_body; /* bytes, decompressed */
    /* [admin] */
    char admin_listen[128];
    /* [storage] */
    char data_dir[1024];
    uint64_t max_size;  /* LMDB map size */
    double high_water;  /* 0 < x <= 1 */
    bool sync_full;     /* sync = full | none */
    bool compress;      /* compress = gzip | none: how batches are stored */
    int compress_level; /* enum config_level */
    /* [delivery] */
    char url[1024];
    char write_key[1025];
    unsigned concurrency;
    uint64_t timeout_ms;
    unsigned max_attempts;
    uint64_t retry_window_ms;
    uint64_t backoff_min_ms;
    uint64_t backoff_max_ms;
    uint64_t max_batch_bytes;
    bool require_external_user_id;
    uint64_t retry_after_max_ms; /* Retry-After honoured up to this */
    bool content_gzip;           /* content_encoding = gzip | identity: how bodies are sent */
    /* where each key came from, for messages: the config file's line, or the
     * flag that set it (NULL with line 0: the built-in default) */
    unsigned line[CONFIG_KEYS_MAX];
    const char *flag[CONFIG_KEYS_MAX];
    char source[1024]; /* the config file, or "built-in defaults" */
};

/* Fills c with the built-in defaults. */
void config_defaults(struct config *c);

/* Reads an INI file over c. Unknown sections/keys, a key given twice, bad
 * values and anything not a regular file fail with "FILE:LINE: key: what is
 * wrong" in err. Returns 0 or -1. */
int config_load_file(struct config *c, const char *path, char *err, size_t errlen);

/* Applies one command-line flag ("listen", "admin-listen", "data-dir",
 * "forward-url", "write-key"; without the dashes) over c: the same checks as
 * the key it sets. --write-key sets [delivery] write_key and adds the key to
 * [ingest] write_keys. A flag given twice is refused. Returns 0 or -1 with
 * "--flag: key: what is wrong" in err. */
int config_apply_flag(struct config *c, const char *flag, const char *value, char *err,
                      size_t errlen);

/* Applies one setting by section and key, as the program's own (tests,
 * fuzzing). Returns 0 or -1 with "key: what is wrong" in err. */
int config_set(struct config *c, const char *section, const char *key, const char *value, char *err,
               size_t errlen);

/* Checks the rules between keys (some credential configured or
 * allow_anonymous, tokens need [delivery] write_key, backoff_min <=
 * backoff_max, ...), naming the line of the key at fault. No system calls.
 * Returns 0 or -1. */
int config_validate(const struct config *c, char *err, size_t errlen);

/* What a start would find out from the system: the listen addresses
 * resolve and are addresses of this host (a trial bind on port 0, so a
 * running eddyd's ports are not in the way), the delivery host resolves.
 * Returns 0 or -1 with the error in err; warnings (admin listener off
 * loopback, a resolver that does not answer) are passed to warn. */
int config_check_system(const struct config *c, char *err, size_t errlen,
                        void (*warn)(const char *msg));

/* "FILE:LINE", "--flag" or "built-in default": where key section.name of c
 * was set. */
void config_where(const struct config *c, const char *section, const char *name, char *buf,
                  size_t buflen);

/* Calls fn for every key whose value differs between a and b, with how it
 * may take effect and both values as text ("(secret)" for credentials). */
typedef void (*config_change_fn)(void *arg, const char *section, const char *name,
                                 enum config_live live, const char *old_text, const char *new_text);
void config_changes(const struct config *a, const struct config *b, config_change_fn fn, void *arg);

/* "32M", "8G", "1024" -> bytes; "100ms", "30s", "5m", "72h", "2d" -> ms.
 * Return 0 or -1. */
int config_parse_size(const char *s, uint64_t *out);
int config_parse_duration(const char *s, uint64_t *out_ms);

/* The shortest exact text for a size / duration ("32M", "1500ms"). */
void config_format_size(uint64_t v, char *buf, size_t buflen);
void config_format_duration(uint64_t ms, char *buf, size_t buflen);

/* "host:port" or "[v6]:port" -> host, port. Returns 0 or -1. */
int config_split_hostport(const char *s, char *host, size_t hostlen, uint16_t *port);

/* Frees the lists (c stays usable as an empty config). */
void config_free(struct config *c);

#endif
