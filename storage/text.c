/*
 * text.c - the control-byte scrubber (text.h).
 */
#include "text.h"

#include <stdbool.h>

size_t text_scrub(char *dst, const char *src, size_t len, char with)
{
    size_t found = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)src[i];
        bool control = c < 0x20 || c == 0x7f;
        found += control;
        if (dst)
            dst[i] = control ? with : (char)c;
    }
    return found;
}
