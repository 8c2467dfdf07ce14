/*
 * timefmt.h - the CLI's time and size vocabulary: parsing TIME arguments
 * (RFC 3339 or relative like 2h), durations (--older-than 7d), and the
 * human forms used in tables (relative ages, KiB/MiB sizes) and the RFC 3339
 * UTC form used in --json output. Pure functions, unit-tested.
 */
#ifndef EDDY_TIMEFMT_H
#define EDDY_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

/* "90s", "30m", "2h", "7d", "1w", "500ms" and sums like "1h30m" -> ms.
 * Returns 0, or -1 when s is not such a duration. */
int timefmt_parse_duration(const char *s, int64_t *ms);

/* A TIME argument: an RFC 3339 timestamp ("2026-11-28T10:00:00Z", with
 * optional fraction and a Z or +HH:MM offset; a space may replace the T;
 * a bare date means its midnight UTC), or a duration meaning that long
 * before now_ms. Returns 0, or -1. */
int timefmt_parse_time(const char *s, int64_t now_ms, int64_t *ms);

/* RFC 3339 UTC with milliseconds: "2026-11-28T10:00:00.000Z" (24 chars).
 * buf needs TIMEFMT_RFC3339_LEN bytes. */
#define TIMEFMT_RFC3339_LEN 32
char *timefmt_rfc3339(int64_t ms, char *buf, size_t cap);

/* A compact age for tables: "0s", "45s", "12m", "3h05m", "2d04h", "400d". */
char *timefmt_age(int64_t ms, char *buf, size_t cap);

/* A size for tables: "512 B", "1.5 KiB", "3.2 MiB", "1.0 GiB". */
char *timefmt_size(uint64_t bytes, char *buf, size_t cap);

#endif
