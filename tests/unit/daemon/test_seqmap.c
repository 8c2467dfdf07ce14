/*
 * test_seqmap.c - daemon/seqmap.c: the sequence -> value map the delivery
 * worker keeps retry times and bisections in; growth and backward-shift
 * deletion keep every other entry findable.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>

#include "../../../daemon/seqmap.h"

static void test_put_get_del(void **state)
{
    (void)state;
    struct seqmap m = {0};
    int64_t v = 0;
    assert_false(seqmap_get(&m, 1, &v));
    seqmap_del(&m, 1); /* empty map: nothing happens */
    for (uint64_t s = 1; s <= 5000; s++)
        assert_int_equal(seqmap_put(&m, s, (int64_t)s * 10), 0);
    assert_int_equal(m.n, 5000);
    assert_int_equal(seqmap_put(&m, 7, -1), 0); /* overwrite */
    assert_int_equal(m.n, 5000);
    assert_true(seqmap_get(&m, 7, &v));
    assert_int_equal(v, -1);
    /* delete every third; the rest stays findable */
    for (uint64_t s = 3; s <= 5000; s += 3)
        seqmap_del(&m, s);
    for (uint64_t s = 1; s <= 5000; s++) {
        bool there = seqmap_get(&m, s, &v);
        assert_int_equal(there, s % 3 != 0);
        if (there && s != 7)
            assert_int_equal(v, (int64_t)s * 10);
    }
    assert_false(seqmap_get(&m, 5001, &v));
    seqmap_free(&m);
    assert_int_equal(m.n, 0);
}

static void test_sparse_sequences(void **state)
{
    (void)state;
    struct seqmap m = {0};
    int64_t v;
    uint64_t s = 1;
    for (int i = 0; i < 2000; i++, s = s * 6364136223846793005ull + 1442695040888963407ull)
        assert_int_equal(seqmap_put(&m, s | 1, i), 0);
    s = 1;
    for (int i = 0; i < 2000; i++, s = s * 6364136223846793005ull + 1442695040888963407ull) {
        assert_true(seqmap_get(&m, s | 1, &v));
        seqmap_del(&m, s | 1);
        assert_false(seqmap_get(&m, s | 1, &v));
    }
    assert_int_equal(m.n, 0);
    seqmap_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_del),
        cmocka_unit_test(test_sparse_sequences),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
