/*
 * text.h - control bytes in text that came from outside eddy: event types
 * (kept one per line in a record), RudderStack's answers (shown on one line
 * in last_error), CLI table cells, config values. One definition of which
 * bytes they are, 0x00-0x1f and DEL (0x7f), and one scrubber that finds or
 * replaces them; each caller picks the replacement it needs.
 */
#ifndef EDDY_TEXT_H
#define EDDY_TEXT_H

#include <stddef.h>

/* Copies src[0..len) to dst with each control byte replaced by `with`, and
 * returns how many there were. dst may be src (in place), or NULL to count
 * only. Bytes from 0x80 up (UTF-8) are kept as they are; nothing is
 * NUL-terminated. */
size_t text_scrub(char *dst, const char *src, size_t len, char with);

#endif
