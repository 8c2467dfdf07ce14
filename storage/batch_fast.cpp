/*
 * batch_fast.cpp - batch_fast_scan with simdjson's DOM parser (the one that
 * validates the whole text; the On-Demand API skips what it is not asked
 * for). The error-code API is used throughout: nothing here throws.
 *
 * Why: yajl, even with no callbacks, runs at ~340 MB/s on the 94 KB corpus
 * body on the 2-core dev VM, and was about half of eddyd's CPU under wrk;
 * simdjson's DOM parse of the same body runs at ~1.3 GB/s there (its
 * icelake kernel). tests/fuzz/fuzz_diff.c and tests/unit/storage/test_batch.c
 * check that both paths give the same answer.
 */
#include "batch_fast.h"

#include <simdjson.h>

namespace
{

/* One parser per thread: its buffers are reused, so a body costs no
 * allocation once the thread has seen one as large. They take up to ~13
 * bytes per body byte (1 MiB of "[0,0,...]" leaves 12.7 MB resident), so
 * after a body over KEEP the parser is replaced, and what each thread keeps
 * stays under ~3.5 MB. */
constexpr size_t KEEP = 256 << 10;
thread_local simdjson::dom::parser parser{BATCH_FAST_MAX};

/* The value of obj's last member named key, as in batch.c's yajl path
 * (and JavaScript): false when there is none. */
bool last_member(simdjson::dom::object obj, std::string_view key, simdjson::dom::element *value)
{
    bool found = false;
    for (simdjson::dom::key_value_pair m : obj) {
        if (m.key == key) {
            *value = m.value;
            found = true;
        }
    }
    return found;
}

bool scan(const unsigned char *body, size_t len, uint32_t *events, batch_fast_type_fn type_fn,
          void *ctx)
{
    simdjson::dom::object top;
    if (parser.parse(body, len).get_object().get(top) != simdjson::SUCCESS)
        return false;
    simdjson::dom::element list;
    simdjson::dom::array arr;
    if (!last_member(top, "events", &list) || list.get_array().get(arr) != simdjson::SUCCESS)
        return false;
    uint32_t count = 0;
    for (simdjson::dom::element ev : arr) {
        count++;
        simdjson::dom::object obj;
        simdjson::dom::element type;
        std::string_view s;
        /* An "event_type" that is not a string is none. */
        if (ev.get_object().get(obj) != simdjson::SUCCESS ||
            !last_member(obj, "event_type", &type) || type.get_string().get(s) != simdjson::SUCCESS)
            continue;
        if (!type_fn(ctx, s.data(), s.size()))
            return false;
    }
    *events = count;
    return true;
}

} // namespace

bool batch_fast_scan(const unsigned char *body, size_t len, uint32_t *events,
                     batch_fast_type_fn type_fn, void *ctx)
{
    if (len > BATCH_FAST_MAX)
        return false;
    bool ok = scan(body, len, events, type_fn, ctx);
    if (len > KEEP)
        parser = simdjson::dom::parser{BATCH_FAST_MAX};
    return ok;
}
