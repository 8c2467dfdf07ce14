/*
 * test_batch.c - the Currents body: batch_validate against every edge
 * fixture of tests/fixtures/edge/manifest.json (status and event count as
 * stated there), leniency cases, deep nesting, the scanner's spans, joins,
 * type lists, the scanner on garbage (never out of bounds), and
 * batch_validate's simdjson fast path against yajl alone.
 */
#include "../helpers.h"

#include <dirent.h>
#include <jansson.h>

#include "../../../storage/batch_fast.h"

#define EDGE "tests/fixtures/edge/"
#define CORPUS "tests/fixtures/corpus/"

static int validate(const char *s, struct batch_summary *sum)
{
    char err[256];
    return batch_validate((const unsigned char *)s, strlen(s), sum, err, sizeof(err));
}

struct span {
    const unsigned char *p;
    size_t n;
};

static int span_cmp(const void *a, const void *b)
{
    const struct span *x = a, *y = b;
    int c = memcmp(x->p, y->p, x->n < y->n ? x->n : y->n);
    return c ? c : (x->n > y->n) - (x->n < y->n);
}

/* The manifests' ids_sha256: sha256 of the sorted distinct string ids joined
 * by '\n', from the spans batch_scan found (sha256sum does the hashing). */
static void ids_sha256(const unsigned char *body, const struct batch_event *ev, size_t n,
                       char hex[65])
{
    struct span *ids = calloc(n ? n : 1, sizeof(*ids));
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (ev[i].id_len)
            ids[k++] = (struct span){body + ev[i].id_off, ev[i].id_len};
    qsort(ids, k, sizeof(*ids), span_cmp);
    char path[] = "/tmp/eddy-ids.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    size_t written = 0;
    for (size_t i = 0; i < k; i++) {
        if (i && span_cmp(&ids[i], &ids[i - 1]) == 0)
            continue;
        if (written++)
            fputc('\n', f);
        fwrite(ids[i].p, 1, ids[i].n, f);
    }
    fclose(f);
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "sha256sum %s", path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    assert_int_equal(fscanf(p, "%64s", hex), 1);
    pclose(p);
    unlink(path);
    free(ids);
}

static void test_corpus_manifest(void **state)
{
    (void)state;
    json_error_t jerr;
    json_t *m = json_load_file(CORPUS "manifest.json", 0, &jerr);
    assert_non_null(m);
    json_t *files = json_object_get(m, "files");
    assert_int_equal(json_array_size(files), 20);
    size_t i;
    json_t *c;
    json_array_foreach(files, i, c)
    {
        const char *file = json_string_value(json_object_get(c, "file"));
        char path[512];
        snprintf(path, sizeof(path), CORPUS "%s", file);
        size_t len;
        unsigned char *b = th_read_file(path, &len);
        assert_non_null(b);
        struct batch_summary s;
        char err[256];
        assert_int_equal(batch_validate(b, len, &s, err, sizeof(err)), BATCH_OK);
        assert_int_equal(s.events, json_integer_value(json_object_get(c, "events")));
        /* The distinct types are exactly the manifest's event_types keys. */
        json_t *types = json_object_get(c, "event_types");
        size_t ntypes = 0;
        for (char *t = s.types, *nl; t && *t; t = nl ? nl + 1 : NULL) {
            nl = strchr(t, '\n');
            char name[256];
            snprintf(name, sizeof(name), "%.*s", (int)(nl ? (size_t)(nl - t) : strlen(t)), t);
            if (!json_object_get(types, name))
                fail_msg("%s: type %s not in the manifest", file, name);
            ntypes++;
        }
        assert_int_equal(ntypes, json_object_size(types));
        struct batch_event *ev;
        size_t n;
        assert_int_equal(batch_scan(b, len, &ev, &n), BATCH_OK);
        assert_int_equal(n, s.events);
        char hex[65];
        ids_sha256(b, ev, n, hex);
        assert_string_equal(hex, json_string_value(json_object_get(c, "ids_sha256")));
        free(ev);
        free(s.types);
        free(b);
    }
    json_decref(m);
}

static void test_edge_manifest(void **state)
{
    (void)state;
    json_error_t jerr;
    json_t *m = json_load_file(EDGE "manifest.json", 0, &jerr);
    assert_non_null(m);
    json_t *cases = json_object_get(m, "cases");
    assert_true(json_array_size(cases) >= 25);
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c)
    {
        const char *file = json_string_value(json_object_get(c, "file"));
        int status = (int)json_integer_value(json_object_get(c, "status"));
        json_t *events = json_object_get(c, "events");
        char path[512];
        snprintf(path, sizeof(path), EDGE "%s", file);
        size_t len;
        unsigned char *b = th_read_file(path, &len);
        assert_non_null(b);
        assert_int_equal(len, (size_t)json_integer_value(json_object_get(c, "bytes")));
        struct batch_summary s;
        char err[256];
        int rc = batch_validate(b, len, &s, err, sizeof(err));
        if ((status == 200) != (rc >= 0))
            fail_msg("%s: expected HTTP %d, batch_validate gave %d (%s)", file, status, rc, err);
        if (rc < 0)
            assert_true(strlen(err) > 0);
        if (json_is_integer(events)) {
            size_t want = (size_t)json_integer_value(events);
            if (want == 0) {
                assert_int_equal(rc, BATCH_EMPTY);
            } else {
                assert_int_equal(rc, BATCH_OK);
                if (s.events != want)
                    fail_msg("%s: %u events, manifest says %zu", file, s.events, want);
                /* The scanner agrees with the validator on every accepted case. */
                struct batch_event *ev;
                size_t n;
                assert_int_equal(batch_scan(b, len, &ev, &n), BATCH_OK);
                assert_int_equal(n, want);
                /* ... and finds the ids the manifest lists (the last "events"
                 * array, the last "id" of an event). */
                char hex[65];
                ids_sha256(b, ev, n, hex);
                const char *ids = json_string_value(json_object_get(c, "ids_sha256"));
                if (ids && strcmp(hex, ids) != 0)
                    fail_msg("%s: ids_sha256 %s, manifest says %s", file, hex, ids);
                free(ev);
            }
        }
        if (rc == BATCH_OK)
            free(s.types);
        free(b);
    }
    json_decref(m);
}

static void test_lenient_cases(void **state)
{
    (void)state;
    struct batch_summary s;
    const char *ok[] = {
        "{\"events\":[{\"a\":\"\\u0000\"}]}",
        "{\"events\":[{\"a\":\"\\ud800\"}]}",
        "{\"events\":[{\"a\":\"\\udfff\\ud800\"}]}",
        "{\"events\":[{\"a\":\"x\xff\xc3\x28y\"}]}",
        ("{\"events\":[18446744073709551616, 1e309, -0, 1e-400, "
         "123456789012345678901234567890]}"),
        "{\"events\":[{\"a\":1,\"a\":2}]}",
        "{\"events\":null,\"events\":[1]}",
        " \n{\"events\":[1]} \r\n\t",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        int rc = validate(ok[i], &s);
        if (rc != BATCH_OK)
            fail_msg("case %zu refused: %d", i, rc);
        free(s.types);
    }
}

static void test_refused_cases(void **state)
{
    (void)state;
    struct {
        const char *body;
        int rc;
    } cases[] = {
        {"{\"events\":[1]}x", BATCH_INVALID_JSON},
        {"{\"events\":[1]}{\"events\":[1]}", BATCH_INVALID_JSON},
        {"\xef\xbb\xbf{\"events\":[1]}", BATCH_INVALID_JSON},
        {"{\"events\":[NaN]}", BATCH_INVALID_JSON},
        {"{\"events\":[Infinity]}", BATCH_INVALID_JSON},
        {"{\"events\":[1,]}", BATCH_INVALID_JSON},
        {"{\"events\":[1]", BATCH_INVALID_JSON},
        {"{\"events\":[1],\"events\":null}", BATCH_INVALID_SHAPE},
        {"{\"events\":{}}", BATCH_INVALID_SHAPE},
        {"{\"other\":[1]}", BATCH_INVALID_SHAPE},
        {"[{\"events\":[1]}]", BATCH_INVALID_SHAPE},
        {"\"events\"", BATCH_INVALID_SHAPE},
        {"", BATCH_EMPTY},
        {"  \n ", BATCH_EMPTY},
        {"{\"events\":[]}", BATCH_EMPTY},
        {"{\"events\":[1],\"events\":[]}", BATCH_EMPTY},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct batch_summary s;
        int rc = validate(cases[i].body, &s);
        if (rc != cases[i].rc)
            fail_msg("case %zu: got %d, want %d", i, rc, cases[i].rc);
    }
}

static void test_error_names_offset(void **state)
{
    (void)state;
    char err[256];
    struct batch_summary s;
    const char *b = "{\"events\":[1,2,#]}";
    assert_int_equal(batch_validate((const unsigned char *)b, strlen(b), &s, err, sizeof(err)),
                     BATCH_INVALID_JSON);
    assert_non_null(strstr(err, "byte"));
}

static void test_deep_nesting_100k(void **state)
{
    (void)state;
    size_t depth = 100000;
    size_t len = 12 + depth * 2 + 2;
    char *b = malloc(len + 1);
    size_t k = (size_t)sprintf(b, "{\"events\":[");
    for (size_t i = 0; i < depth; i++)
        b[k++] = '[';
    for (size_t i = 0; i < depth; i++)
        b[k++] = ']';
    b[k++] = ']';
    b[k++] = '}';
    struct batch_summary s;
    char err[256];
    assert_int_equal(batch_validate((unsigned char *)b, k, &s, err, sizeof(err)), BATCH_OK);
    assert_int_equal(s.events, 1);
    free(s.types);
    struct batch_event *ev;
    size_t n;
    assert_int_equal(batch_scan((unsigned char *)b, k, &ev, &n), BATCH_OK);
    assert_int_equal(n, 1);
    assert_int_equal(ev[0].len, depth * 2);
    free(ev);
    /* Unclosed: refused, no crash. */
    assert_int_equal(batch_validate((unsigned char *)b, 11 + depth, &s, err, sizeof(err)),
                     BATCH_INVALID_JSON);
    free(b);
}

static void test_types_distinct_in_order(void **state)
{
    (void)state;
    struct batch_summary s;
    assert_int_equal(validate("{\"events\":[{\"event_type\":\"b\"},{\"event_type\":\"a\"},"
                              "{\"event_type\":\"b\"},{\"x\":{\"event_type\":\"nested\"}},"
                              "{\"event_type\":\"c\\nd\\u0001\"},{\"event_type\":7},"
                              "\"event_type\"],\"event_type\":\"top\"}",
                              &s),
                     BATCH_OK);
    assert_int_equal(s.events, 7);
    assert_string_equal(s.types, "b\na\nc?d?");
    assert_int_equal(s.types_len, strlen("b\na\nc?d?"));
    free(s.types);
    assert_int_equal(validate("{\"events\":[1,{\"id\":\"x\"}]}", &s), BATCH_OK);
    assert_string_equal(s.types, "");
    assert_int_equal(s.types_len, 0);
    free(s.types);
}

static void test_last_events_key_wins(void **state)
{
    (void)state;
    const char *b = "{\"events\":[{\"event_type\":\"old\"},2,3],\"x\":1,"
                    "\"ev\\u0065nts\":[{\"id\":\"n1\",\"event_type\":\"new\"}]}";
    struct batch_summary s;
    assert_int_equal(validate(b, &s), BATCH_OK);
    assert_int_equal(s.events, 1);
    assert_string_equal(s.types, "new");
    free(s.types);
    struct batch_event *ev;
    size_t n;
    assert_int_equal(batch_scan((const unsigned char *)b, strlen(b), &ev, &n), BATCH_OK);
    assert_int_equal(n, 1);
    assert_memory_equal(b + ev[0].id_off, "n1", 2);
    free(ev);
}

/* Found by the fuzzers: the summary and batch_scan must agree on which
 * event_type counts (the last, as in JavaScript) and on whitespace (yajl
 * also skips \v and \f between tokens). */
static void test_summary_and_scan_agree(void **state)
{
    (void)state;
    const char *b = "{\"events\":[{\"event_type\":\"first\",\"event_type\":\"last\"},"
                    "{\"event_type\":\"gone\",\"event_type\":1}]}";
    struct batch_summary s;
    assert_int_equal(validate(b, &s), BATCH_OK);
    assert_string_equal(s.types, "last");
    struct batch_event *ev;
    size_t n;
    char *types;
    size_t types_len;
    assert_int_equal(batch_scan((const unsigned char *)b, strlen(b), &ev, &n), BATCH_OK);
    assert_int_equal(batch_types((const unsigned char *)b, ev, n, &types, &types_len), BATCH_OK);
    assert_int_equal(types_len, s.types_len);
    assert_memory_equal(types, s.types, types_len);
    free(types);
    free(ev);
    free(s.types);

    const char *ws = "\f{\"events\"\v:\f[\v1\f,{\"id\":\"a\"}\v]}\f";
    assert_int_equal(validate(ws, &s), BATCH_OK);
    assert_int_equal(s.events, 2);
    free(s.types);
    assert_int_equal(batch_scan((const unsigned char *)ws, strlen(ws), &ev, &n), BATCH_OK);
    assert_int_equal(n, 2);
    assert_memory_equal(ws + ev[0].off, "1", ev[0].len);
    assert_memory_equal(ws + ev[1].id_off, "a", 1);
    free(ev);
}

static void test_scan_spans_ids_types(void **state)
{
    (void)state;
    const char *b = " { \"a\" : [1,{\"events\":[9]}] , \"events\" : [ "
                    "{\"id\":\"e\\\"1\",\"event_type\":\"t1\",\"p\":{\"id\":\"inner\"}} ,"
                    "null, \"s]}\", [ {\"id\":\"no\"} ], {\"event_type\":{\"x\":1},\"id\":5},"
                    "{\"id\":\"a\",\"id\":\"b\"}, -1.5e3 ] } ";
    size_t len = strlen(b);
    struct batch_summary s;
    assert_int_equal(validate(b, &s), BATCH_OK);
    free(s.types);
    struct batch_event *ev;
    size_t n;
    assert_int_equal(batch_scan((const unsigned char *)b, len, &ev, &n), BATCH_OK);
    assert_int_equal(n, s.events);
    assert_int_equal(n, 7);
    const char *want[] = {"{\"id\":\"e\\\"1\",\"event_type\":\"t1\",\"p\":{\"id\":\"inner\"}}",
                          "null",
                          "\"s]}\"",
                          "[ {\"id\":\"no\"} ]",
                          "{\"event_type\":{\"x\":1},\"id\":5}",
                          "{\"id\":\"a\",\"id\":\"b\"}",
                          "-1.5e3"};
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(ev[i].len, strlen(want[i]));
        assert_memory_equal(b + ev[i].off, want[i], ev[i].len);
    }
    assert_int_equal(ev[0].id_len, 4);
    assert_memory_equal(b + ev[0].id_off, "e\\\"1", 4);
    assert_memory_equal(b + ev[0].type_off, "t1", 2);
    assert_int_equal(ev[1].id_len, 0);
    assert_int_equal(ev[3].id_len, 0); /* not an object: no id */
    assert_int_equal(ev[4].id_len, 0); /* id is a number */
    assert_int_equal(ev[4].type_len, 0);
    assert_memory_equal(b + ev[5].id_off, "b", 1); /* the last "id" wins */
    free(ev);
}

static void test_join_halves_concatenate(void **state)
{
    (void)state;
    size_t len;
    unsigned char *b = th_read_file(CORPUS "batch-00001.json", &len);
    assert_non_null(b);
    struct batch_event *ev;
    size_t n;
    assert_int_equal(batch_scan(b, len, &ev, &n), BATCH_OK);
    assert_int_equal(n, 100);
    unsigned char *h[2];
    size_t hl[2];
    assert_int_equal(batch_join(b, ev, 37, &h[0], &hl[0]), BATCH_OK);
    assert_int_equal(batch_join(b, ev + 37, 63, &h[1], &hl[1]), BATCH_OK);
    for (int k = 0; k < 2; k++) {
        struct batch_summary s;
        char err[256];
        assert_int_equal(batch_validate(h[k], hl[k], &s, err, sizeof(err)), BATCH_OK);
        assert_int_equal(s.events, k ? 63 : 37);
        free(s.types);
    }
    /* Every event keeps its bytes: the halves' events, in order, are the
     * original events byte for byte. */
    struct batch_event *e0, *e1;
    size_t n0, n1;
    assert_int_equal(batch_scan(h[0], hl[0], &e0, &n0), BATCH_OK);
    assert_int_equal(batch_scan(h[1], hl[1], &e1, &n1), BATCH_OK);
    for (size_t i = 0; i < n; i++) {
        const unsigned char *src = i < 37 ? h[0] + e0[i].off : h[1] + e1[i - 37].off;
        size_t sl = i < 37 ? e0[i].len : e1[i - 37].len;
        assert_int_equal(sl, ev[i].len);
        assert_memory_equal(src, b + ev[i].off, sl);
    }
    /* Joining all events of the compact corpus body gives the body back. */
    unsigned char *all;
    size_t al;
    assert_int_equal(batch_join(b, ev, n, &all, &al), BATCH_OK);
    if (al == len)
        assert_memory_equal(all, b, len);
    free(all);
    free(e0);
    free(e1);
    free(h[0]);
    free(h[1]);
    free(ev);
    free(b);
}

static void test_types_of_subset_match_validate(void **state)
{
    (void)state;
    size_t len;
    unsigned char *b = th_read_file(CORPUS "batch-00002.json", &len);
    struct batch_summary s;
    char err[256];
    assert_int_equal(batch_validate(b, len, &s, err, sizeof(err)), BATCH_OK);
    struct batch_event *ev;
    size_t n;
    assert_int_equal(batch_scan(b, len, &ev, &n), BATCH_OK);
    char *t;
    size_t tl;
    assert_int_equal(batch_types(b, ev, n, &t, &tl), BATCH_OK);
    assert_int_equal(tl, s.types_len);
    assert_memory_equal(t, s.types, tl);
    free(t);
    /* An escaped type decodes like the validator decodes it. */
    const char *e = "{\"events\":[{\"event_type\":\"a\\u002eb\\n\"},{\"event_type\":\"a.b\\n\"}]}";
    struct batch_summary s2;
    assert_int_equal(validate(e, &s2), BATCH_OK);
    struct batch_event *ev2;
    size_t n2;
    assert_int_equal(batch_scan((const unsigned char *)e, strlen(e), &ev2, &n2), BATCH_OK);
    assert_int_equal(batch_types((const unsigned char *)e, ev2, n2, &t, &tl), BATCH_OK);
    assert_string_equal(t, "a.b?");
    assert_string_equal(s2.types, "a.b?");
    free(t);
    free(s2.types);
    free(ev2);
    free(ev);
    free(s.types);
    free(b);
}

static void test_scan_garbage_in_bounds(void **state)
{
    (void)state;
    /* Every prefix of a body, and random mutations, scanned from exact-size
     * heap copies: ASan would flag any read past the end. */
    size_t len;
    unsigned char *b = th_read_file(EDGE "duplicate-events-key.json", &len);
    assert_non_null(b);
    for (size_t n = 0; n < len; n += (n < 200 ? 1 : 37)) {
        unsigned char *c = malloc(n ? n : 1);
        memcpy(c, b, n);
        struct batch_event *ev;
        size_t cnt;
        if (batch_scan(c, n, &ev, &cnt) == BATCH_OK)
            free(ev);
        free(c);
    }
    srand(11);
    const char alphabet[] = "{}[]\",:\\ abc01";
    for (int round = 0; round < 3000; round++) {
        unsigned char *c = malloc(len);
        memcpy(c, b, len);
        for (int k = 0; k < 1 + round % 8; k++)
            c[(size_t)rand() % len] = (unsigned char)alphabet[rand() % (sizeof(alphabet) - 1)];
        struct batch_event *ev;
        size_t cnt;
        if (batch_scan(c, len, &ev, &cnt) == BATCH_OK) {
            for (size_t i = 0; i < cnt; i++) {
                assert_true(ev[i].off + ev[i].len <= len);
                assert_true(ev[i].id_off + ev[i].id_len <= len);
                assert_true(ev[i].type_off + ev[i].type_len <= len);
            }
            char *t;
            size_t tl;
            if (batch_types(c, ev, cnt, &t, &tl) == BATCH_OK)
                free(t);
            free(ev);
        }
        struct batch_summary s;
        char err[128];
        if (batch_validate(c, len, &s, err, sizeof(err)) == BATCH_OK)
            free(s.types);
        free(c);
    }
    free(b);
}

static void test_string_equals_decodes(void **state)
{
    (void)state;
    const unsigned char *raw = (const unsigned char *)"a\\u002fb\\\"c";
    size_t rl = strlen((const char *)raw);
    assert_true(batch_string_equals(raw, rl, "a/b\"c", 5));
    assert_false(batch_string_equals(raw, rl, "a/b\"", 4));
    assert_false(batch_string_equals(raw, rl, (const char *)raw, rl));
    assert_true(batch_string_equals((const unsigned char *)"plain", 5, "plain", 5));
    assert_false(batch_string_equals((const unsigned char *)"plain", 5, "plai", 4));
    assert_true(batch_string_equals((const unsigned char *)"\\u0000x", 7, "\0x", 2));
    /* A broken escape never equals anything (and never crashes). */
    assert_false(batch_string_equals((const unsigned char *)"\\u00", 5, "", 0));
    assert_false(batch_string_equals((const unsigned char *)"x\\", 2, "x", 1));
    /* batch_validate tolerates a missing err buffer. */
    struct batch_summary sum;
    assert_int_equal(batch_validate((const unsigned char *)"[", 1, &sum, NULL, 0),
                     BATCH_INVALID_JSON);
}

static void test_scan_refuses_non_batches(void **state)
{
    (void)state;
    const char *bad[] = {"",
                         "[1]",
                         "{\"x\":1}",
                         "{\"events\":1}",
                         "{\"events\":[1,",
                         "{\"events\":[\"abc",
                         "{\"events\":{}}",
                         "{\"events\" 1}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct batch_event *ev = (void *)1;
        size_t n = 99;
        assert_int_equal(batch_scan((const unsigned char *)bad[i], strlen(bad[i]), &ev, &n),
                         BATCH_INVALID_SHAPE);
        assert_null(ev);
        assert_int_equal(n, 0);
    }
}

/* batch_validate (simdjson first) and batch_validate_yajl agree on
 * everything: status, message, event count, type list. */
static void assert_same_as_yajl(const char *what, const unsigned char *b, size_t len)
{
    struct batch_summary x = {0}, y = {0};
    char ex[256], ey[256];
    int rx = batch_validate(b, len, &x, ex, sizeof(ex));
    int ry = batch_validate_yajl(b, len, &y, ey, sizeof(ey));
    if (rx != ry || strcmp(ex, ey) != 0)
        fail_msg("%s: batch_validate %d (%s), yajl %d (%s)", what, rx, ex, ry, ey);
    if (rx == BATCH_OK &&
        (x.events != y.events || x.types_len != y.types_len || strcmp(x.types, y.types) != 0))
        fail_msg("%s: batch_validate %u events, types \"%s\"; yajl %u, \"%s\"", what, x.events,
                 x.types, y.events, y.types);
    free(x.types);
    free(y.types);
}

static void same_as_yajl_in(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    int files = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[512];
        snprintf(path, sizeof(path), "%s%s", dir, e->d_name);
        size_t len;
        unsigned char *b = th_read_file(path, &len);
        assert_non_null(b);
        assert_same_as_yajl(path, b, len);
        free(b);
        files++;
    }
    closedir(d);
    assert_true(files >= 20);
}

static void test_fast_path_same_as_yajl_fixtures(void **state)
{
    (void)state;
    same_as_yajl_in(EDGE);
    same_as_yajl_in(CORPUS);
}

/* Where simdjson and yajl part ways, the answer is still yajl's: each of
 * these is decided by the yajl path or must come out the same from both. */
static void test_fast_path_same_as_yajl_cases(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "{\"events\":[1]}\v",                                  /* \v: whitespace to yajl only */
        "\f{\"events\":[1]}",                                  /* \f likewise */
        "{\"events\":[123456789012345678901234567890,1e400]}", /* beyond simdjson's numbers */
        "{\"events\":[{\"event_type\":\"\\ud800\"}]}",         /* lone surrogate escape */
        "{\"events\":[{\"event_type\":\"\\udc00x\"},{\"event_type\":\"y\"}]}",
        "{\"events\":[{\"event_type\":\"\xff\xfe\"}]}",  /* invalid UTF-8 */
        "{\"events\":[{\"event_type\":\"a\\u0000b\"}]}", /* NUL decoded: '?' in the list */
        "{\"events\":[1],\"ev\\u0000ents\":5}",          /* not the key "events" */
        "{\"events\":5,\"ev\\u0065nts\":[1,2]}",         /* escaped: the same key, last wins */
        "{\"events\":[{\"event_type\":\"a\x7f\"}]}",     /* DEL is no control byte to JSON */
        "{\"events\":[{\"event_type\":\"t\\n\\u0041\"}]}",
        "{\"events\":[{\"event_type\":\"x\",\"event_type\":7},{\"event_type\":[\"y\"]}]}",
        "{\"events\":[{\"event_type\":\"\"},{\"event_type\":\"z\"}]}",
        "{\"events\":[{\"event_type\":\"a\x01\"}]}", /* raw control byte: refused */
        "{\"events\":[1]} x",
        "{\"events\":[NaN]}",
        "{\"events\":[1,]}",
        "{\"events\":[]}",
        "{\"events\":{}}",
        "[{\"events\":[1]}]",
        "{\"events\":[1]}{\"events\":[1]}",
        "\xef\xbb\xbf{\"events\":[1]}",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_same_as_yajl(cases[i], (const unsigned char *)cases[i], strlen(cases[i]));
    /* A raw NUL after the text. */
    assert_same_as_yajl("raw NUL", (const unsigned char *)"{\"events\":[1]}\0", 15);
    /* Nesting beyond simdjson's 1,024 levels inside an event. */
    size_t depth = 3000, k = 0;
    char *deep = malloc(2 * depth + 32);
    assert_non_null(deep);
    k += (size_t)sprintf(deep, "{\"events\":[");
    for (size_t i = 0; i < depth; i++)
        deep[k++] = '[';
    for (size_t i = 0; i < depth; i++)
        deep[k++] = ']';
    k += (size_t)sprintf(deep + k, "]}");
    assert_same_as_yajl("3000 levels", (const unsigned char *)deep, k);
    free(deep);
}

static bool count_type(void *ctx, const char *s, size_t n)
{
    (void)s, (void)n;
    ++*(int *)ctx;
    return true;
}

/* The corpus bodies take the fast path (else it costs without paying). */
static void test_fast_path_taken_for_corpus(void **state)
{
    (void)state;
    size_t len;
    unsigned char *b = th_read_file(CORPUS "batch-00001.json", &len);
    assert_non_null(b);
    uint32_t events = 0;
    int types = 0;
    assert_true(batch_fast_scan(b, len, &events, count_type, &types));
    assert_int_equal(events, 100);
    assert_int_equal(types, 100);
    free(b);
    /* Over BATCH_FAST_MAX: the streaming path, in constant memory. */
    unsigned char *big = malloc(BATCH_FAST_MAX + 16);
    assert_non_null(big);
    memcpy(big, "{\"events\":[1]}", 14);
    memset(big + 14, ' ', BATCH_FAST_MAX + 2);
    assert_false(batch_fast_scan(big, BATCH_FAST_MAX + 16, &events, count_type, &types));
    assert_same_as_yajl("over BATCH_FAST_MAX", big, BATCH_FAST_MAX + 16);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_edge_manifest),
        cmocka_unit_test(test_corpus_manifest),
        cmocka_unit_test(test_lenient_cases),
        cmocka_unit_test(test_refused_cases),
        cmocka_unit_test(test_error_names_offset),
        cmocka_unit_test(test_deep_nesting_100k),
        cmocka_unit_test(test_types_distinct_in_order),
        cmocka_unit_test(test_last_events_key_wins),
        cmocka_unit_test(test_summary_and_scan_agree),
        cmocka_unit_test(test_scan_spans_ids_types),
        cmocka_unit_test(test_join_halves_concatenate),
        cmocka_unit_test(test_types_of_subset_match_validate),
        cmocka_unit_test(test_scan_garbage_in_bounds),
        cmocka_unit_test(test_string_equals_decodes),
        cmocka_unit_test(test_scan_refuses_non_batches),
        cmocka_unit_test(test_fast_path_same_as_yajl_fixtures),
        cmocka_unit_test(test_fast_path_same_as_yajl_cases),
        cmocka_unit_test(test_fast_path_taken_for_corpus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
