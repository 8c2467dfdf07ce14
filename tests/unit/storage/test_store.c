/*
 * test_store.c - the environment: open/create (modes, refusals), format
 * version, sequences never reused across a drain and reopen, meta blobs,
 * stats, backup, reader check, a forked reader process
 * and a map grown by another process (MDB_MAP_RESIZED), the daemon lock
 * and the identity check.
 */
#include "../helpers.h"

#include <limits.h>
#include <lmdb.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

static char *sub(const char *dir, const char *name)
{
    char *p;
    assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
    return p;
}

static void test_create_modes(void **state)
{
    char *dir = sub(*state, "a/b/data");
    queue_t *q = th_open(dir, 1 << 20, true);
    struct stat sb;
    assert_int_equal(stat(dir, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);
    char *f = sub(dir, "data.mdb");
    assert_int_equal(stat(f, &sb), 0);
    assert_int_equal(sb.st_mode & 0077, 0); /* 0600 (minus umask) */
    free(f);
    struct queue_stats s;
    assert_int_equal(queue_stats(q, &s), QUEUE_OK);
    assert_int_equal(s.pending_batches, 0);
    assert_int_equal(s.next_seq, 1);
    assert_int_equal(s.max_bytes, 1 << 20);
    assert_true(s.used_bytes > 0 && s.used_bytes < s.max_bytes);
    queue_close(q);
    free(dir);
}

static void test_open_without_create(void **state)
{
    struct queue_options o = {.dir = *state, .sync_full = true, .create = false};
    queue_t *q = NULL;
    char err[256] = "";
    /* An empty dir is not a store, and nothing gets created in it. */
    assert_int_equal(queue_open(&q, &o, err, sizeof(err)), QUEUE_NOT_STORE);
    assert_null(q);
    assert_non_null(strstr(err, "not an eddy data dir"));
    char *f = sub(*state, "data.mdb");
    struct stat sb;
    assert_int_not_equal(stat(f, &sb), 0);
    /* A missing dir neither. */
    char *missing = sub(*state, "nope");
    o.dir = missing;
    assert_int_equal(queue_open(&q, &o, err, sizeof(err)), QUEUE_NOT_STORE);
    /* A foreign LMDB environment: no eddy databases. */
    MDB_env *env;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_open(env, *state, 0, 0600), 0);
    MDB_txn *txn;
    MDB_dbi dbi;
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
    MDB_val k = {3, "foo"}, v = {3, "bar"};
    assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    o.dir = *state;
    assert_int_equal(queue_open(&q, &o, err, sizeof(err)), QUEUE_NOT_STORE);
    assert_non_null(strstr(err, "not an eddy data dir"));
    /* Once created, it opens without create and with map_size 0. */
    char *d2 = sub(*state, "store");
    queue_close(th_open(d2, 2 << 20, true));
    o.dir = d2;
    assert_int_equal(queue_open(&q, &o, err, sizeof(err)), QUEUE_OK);
    struct queue_stats s;
    assert_int_equal(queue_stats(q, &s), QUEUE_OK);
    assert_int_equal(s.max_bytes, 2 << 20); /* adopted the stored map size */
    queue_close(q);
    free(d2);
    free(f);
    free(missing);
}

static void test_refuses_newer_version(void **state)
{
    queue_close(th_open(*state, 1 << 20, false));
    MDB_env *env;
    assert_int_equal(mdb_env_create(&env), 0);
    mdb_env_set_maxdbs(env, 4);
    assert_int_equal(mdb_env_open(env, *state, 0, 0600), 0);
    MDB_txn *txn;
    MDB_dbi meta;
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "meta", 0, &meta), 0);
    unsigned char v2[8] = {0, 0, 0, 0, 0, 0, 0, 2};
    MDB_val k = {strlen("q.version"), "q.version"}, v = {8, v2};
    assert_int_equal(mdb_put(txn, meta, &k, &v, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    for (int create = 0; create < 2; create++) {
        struct queue_options o = {.dir = *state, .sync_full = true, .create = create};
        queue_t *q = NULL;
        char err[256];
        assert_int_equal(queue_open(&q, &o, err, sizeof(err)), QUEUE_VERSION);
        assert_null(q);
        assert_non_null(strstr(err, "newer"));
    }
}

static void test_sequence_never_reused(void **state)
{
    queue_t *q = th_open(*state, 8 << 20, true);
    size_t len;
    char *body = th_body("s", 2, 10, &len);
    uint64_t s[3];
    for (int i = 0; i < 3; i++)
        s[i] = th_append(q, body, len, 1000);
    assert_int_equal(s[0], 1);
    assert_int_equal(s[2], 3);
    assert_int_equal(queue_ack(q, s, 3), QUEUE_OK);
    struct queue_stats st;
    assert_int_equal(queue_stats(q, &st), QUEUE_OK);
    assert_int_equal(st.pending_batches, 0);
    assert_int_equal(st.pending_events, 0);
    assert_int_equal(st.pending_bytes, 0);
    queue_close(q);
    q = th_open(*state, 0, true);
    uint64_t n = th_append(q, body, len, 2000);
    assert_int_equal(n, 4);
    assert_int_equal(queue_stats(q, &st), QUEUE_OK);
    assert_int_equal(st.next_seq, 5);
    queue_close(q);
    free(body);
}

/* used_bytes counts live pages: after a backlog drains it falls again even
 * though the file keeps its size (ingest's high-water check relies on it). */
static void test_used_bytes_falls_after_drain(void **state)
{
    queue_t *q = th_open(*state, 64 << 20, false);
    size_t len;
    char *body = th_body("u", 10, 1000, &len); /* ~12 KB */
    struct queue_stats s0, s1, s2;
    assert_int_equal(queue_stats(q, &s0), QUEUE_OK);
    uint64_t ids[300];
    for (int i = 0; i < 300; i++)
        ids[i] = th_append(q, body, len, i);
    assert_int_equal(queue_stats(q, &s1), QUEUE_OK);
    assert_true(s1.used_bytes >= s0.used_bytes + 300 * len);
    assert_int_equal(queue_ack(q, ids, 300), QUEUE_OK);
    assert_int_equal(queue_stats(q, &s2), QUEUE_OK);
    assert_true(s2.used_bytes < s1.used_bytes / 4);
    /* New appends reuse the freed pages instead of growing the file. */
    for (int i = 0; i < 100; i++)
        th_append(q, body, len, i);
    assert_int_equal(queue_stats(q, &s2), QUEUE_OK);
    assert_true(s2.used_bytes < s1.used_bytes);
    queue_close(q);
    free(body);
}

static void test_meta_blobs(void **state)
{
    queue_t *q = th_open(*state, 1 << 20, false);
    char buf[64];
    size_t len = 99;
    assert_int_equal(queue_meta_get(q, "delivery", buf, sizeof(buf), &len), QUEUE_NOT_FOUND);
    assert_int_equal(queue_meta_put(q, "delivery", "{\"state\":\"held\"}", 16), QUEUE_OK);
    assert_int_equal(queue_meta_get(q, "delivery", buf, sizeof(buf), &len), QUEUE_OK);
    assert_int_equal(len, 16);
    assert_memory_equal(buf, "{\"state\":\"held\"}", 16);
    /* A short buffer gets a prefix and the full length. */
    char small[4];
    assert_int_equal(queue_meta_get(q, "delivery", small, sizeof(small), &len), QUEUE_OK);
    assert_int_equal(len, 16);
    assert_memory_equal(small, "{\"st", 4);
    /* Reserved names are refused and the counters are untouched. */
    assert_int_equal(queue_meta_put(q, "q.next_seq", "x", 1), QUEUE_ERROR);
    assert_true(strlen(queue_last_error()) > 0);
    size_t blen;
    char *body = th_body("m", 1, 1, &blen);
    assert_int_equal(th_append(q, body, blen, 1), 1);
    free(body);
    queue_close(q);
}

static void test_daemon_lock(void **state)
{
    struct queue_options o = {.dir = *state, .sync_full = false, .create = true, .lock = true};
    queue_t *a = NULL, *b = NULL, *cli = NULL;
    char err[512] = "";
    long pid = 1;
    assert_int_equal(queue_daemon_pid(*state, &pid), QUEUE_OK);
    assert_int_equal(pid, 0); /* never locked: no lock file yet */
    assert_int_equal(queue_open(&a, &o, err, sizeof(err)), QUEUE_OK);
    assert_int_equal(queue_daemon_pid(*state, &pid), QUEUE_OK);
    assert_int_equal(pid, (long)getpid());
    /* A second daemon is refused (OFD locks conflict within one process
     * too), the message names the dir and the holder. */
    assert_int_equal(queue_open(&b, &o, err, sizeof(err)), QUEUE_LOCKED);
    assert_null(b);
    char want[256];
    snprintf(want, sizeof(want), "data dir %s is in use by eddyd pid %ld", (char *)*state,
             (long)getpid());
    assert_non_null(strstr(err, want));
    /* The CLI opens beside it and sees it running. */
    o.lock = false;
    o.create = false;
    assert_int_equal(queue_open(&cli, &o, err, sizeof(err)), QUEUE_OK);
    pid = 0;
    assert_int_equal(queue_daemon_of(cli, &pid), QUEUE_OK);
    assert_int_equal(pid, (long)getpid());
    pid = 0;
    assert_int_equal(queue_daemon_of(a, &pid), QUEUE_OK); /* eddyd asks about itself */
    assert_int_equal(pid, (long)getpid());
    queue_close(a);
    /* Released with the store; the stale pid in the file means nothing. */
    assert_int_equal(queue_daemon_pid(*state, &pid), QUEUE_OK);
    assert_int_equal(pid, 0);
    pid = 1;
    assert_int_equal(queue_daemon_of(cli, &pid), QUEUE_OK);
    assert_int_equal(pid, 0);
    queue_close(cli);
}

static void test_identity(void **state)
{
    struct queue_options o = {.dir = *state, .sync_full = false, .create = true, .lock = true};
    queue_t *q = NULL;
    char err[512] = "";
    const char *names[] = {"data.mdb", "lock.mdb", QUEUE_DAEMON_LOCK};
    for (size_t i = 0; i < 3; i++) {
        /* deleted */
        assert_int_equal(queue_open(&q, &o, err, sizeof(err)), QUEUE_OK);
        assert_int_equal(queue_check_identity(q, err, sizeof(err)), QUEUE_OK);
        char *path = sub(*state, names[i]);
        assert_int_equal(unlink(path), 0);
        assert_int_equal(queue_check_identity(q, err, sizeof(err)), QUEUE_LOST);
        assert_non_null(strstr(err, names[i]));
        assert_non_null(strstr(err, "was deleted"));
        queue_close(q);
        th_rmrf(*state);
        /* replaced */
        assert_int_equal(queue_open(&q, &o, err, sizeof(err)), QUEUE_OK);
        char *other = sub(*state, "other");
        FILE *f = fopen(other, "w");
        assert_non_null(f);
        fclose(f);
        assert_int_equal(rename(other, path), 0);
        assert_int_equal(queue_check_identity(q, err, sizeof(err)), QUEUE_LOST);
        assert_non_null(strstr(err, "was replaced by another file"));
        queue_close(q);
        th_rmrf(*state);
        free(other);
        free(path);
    }
}

static void test_backup_copy(void **state)
{
    char *src = sub(*state, "src"), *dst = sub(*state, "dst");
    queue_t *q = th_open(src, 4 << 20, true);
    size_t len;
    char *body = th_body("b", 4, 100, &len);
    uint64_t a = th_append(q, body, len, 5);
    th_append(q, body, len, 6);
    assert_int_equal(queue_ack(q, &a, 1), QUEUE_OK);
    assert_int_equal(queue_backup(q, dst), QUEUE_OK);
    /* Not into a non-empty dir. */
    assert_int_equal(queue_backup(q, dst), QUEUE_ERROR);
    queue_close(q);
    struct queue_options o = {.dir = dst, .sync_full = true};
    char err[256];
    assert_int_equal(queue_open(&q, &o, err, sizeof(err)), QUEUE_OK);
    struct queue_entry e[4];
    size_t n;
    assert_int_equal(th_ready(q, 0, 0, e, 4, &n), QUEUE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(e[0].id, 2);
    assert_int_equal(e[0].rec.body_len, len);
    assert_memory_equal(e[0].rec.body, body, len);
    queue_entry_free(&e[0]);
    /* The copy keeps the counters: no id reuse there either. */
    assert_int_equal(th_append(q, body, len, 7), 3);
    queue_close(q);
    free(body);
    free(src);
    free(dst);
}

static void test_reader_check(void **state)
{
    queue_t *q = th_open(*state, 1 << 20, false);
    int cleared = -1;
    assert_int_equal(queue_reader_check(q, &cleared), QUEUE_OK);
    assert_int_equal(cleared, 0);
    assert_int_equal(queue_reader_check(q, NULL), QUEUE_OK);
    queue_close(q);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The child opens its own environment and reads while the parent writes:
 * it must see every committed batch, byte for byte, in order. */
static void test_forked_reader_sees_commits(void **state)
{
    queue_t *q = th_open(*state, 16 << 20, true);
    size_t len;
    char *body = th_body("f", 5, 50, &len);
    th_append(q, body, len, 1);
    int go[2];
    assert_int_equal(pipe(go), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(go[1]);
        struct queue_options o = {.dir = *state, .sync_full = true};
        queue_t *cq;
        char err[256];
        if (queue_open(&cq, &o, err, sizeof(err)) != QUEUE_OK)
            _exit(10);
        char c;
        if (read(go[0], &c, 1) != 1)
            _exit(11);
        int64_t deadline = mono_ms() + 20000;
        uint64_t seen = 0;
        while (seen < 20 && mono_ms() < deadline) {
            struct queue_entry e[8];
            size_t n;
            if (th_ready(cq, seen, 0, e, 8, &n) != QUEUE_OK)
                _exit(12);
            for (size_t i = 0; i < n; i++) {
                if (e[i].id != seen + 1 || e[i].status != RECORD_OK || e[i].rec.body_len != len ||
                    memcmp(e[i].rec.body, body, len) != 0)
                    _exit(13);
                seen = e[i].id;
                queue_entry_free(&e[i]);
            }
        }
        queue_close(cq);
        _exit(seen == 20 ? 0 : 14);
    }
    /* Let the child open first, then write while it reads. */
    assert_int_equal(write(go[1], "g", 1), 1);
    for (int i = 0; i < 19; i++)
        th_append(q, body, len, 2 + i);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    close(go[0]);
    close(go[1]);
    queue_close(q);
    free(body);
}

/* A process with the old (small) map size keeps working after another
 * process grew the map and filled it past the old size. */
static void test_map_resized_by_other_process(void **state)
{
    queue_close(th_open(*state, 1 << 20, true));
    int p2c[2], c2p[2];
    assert_int_equal(pipe(p2c), 0);
    assert_int_equal(pipe(c2p), 0);
    size_t len;
    char *body = th_body("r", 20, 400, &len); /* ~13 KB */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct queue_options o = {.dir = *state, .sync_full = false};
        queue_t *cq;
        char err[256], c;
        if (queue_open(&cq, &o, err, sizeof(err)) != QUEUE_OK)
            _exit(10);
        if (write(c2p[1], "o", 1) != 1 || read(p2c[0], &c, 1) != 1)
            _exit(11);
        struct queue_stats s;
        if (queue_stats(cq, &s) != QUEUE_OK || s.pending_batches != 300)
            _exit(12);
        if (s.max_bytes != (64 << 20))
            _exit(13);
        struct queue_batch b = {
            .body = (const unsigned char *)body, .body_len = len, .event_count = 20};
        if (queue_append_group(cq, &b, 1) != QUEUE_OK || b.seq != 301)
            _exit(14);
        queue_close(cq);
        _exit(0);
    }
    char c;
    assert_int_equal(read(c2p[0], &c, 1), 1);
    queue_t *q = th_open(*state, 64 << 20, false);
    for (int i = 0; i < 300; i++)
        th_append(q, body, len, i);
    assert_int_equal(write(p2c[1], "g", 1), 1);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    struct queue_stats s;
    assert_int_equal(queue_stats(q, &s), QUEUE_OK);
    assert_int_equal(s.pending_batches, 301);
    queue_close(q);
    free(body);
    close(p2c[0]);
    close(p2c[1]);
    close(c2p[0]);
    close(c2p[1]);
}

/* The layout calls name the store's files, see whether one exists, bound a
 * group's pages from above and measure the room for the data file to grow. */
static void test_layout(void **state)
{
    char *dir = sub(*state, "data");
    assert_false(queue_store_exists(dir));
    uint64_t growth = 1, avail = 1;
    assert_int_equal(queue_disk_room(dir, 1 << 20, &growth, &avail), QUEUE_ERROR);
    queue_t *q = th_open(dir, 1 << 20, true);
    assert_true(queue_store_exists(dir));
    char path[PATH_MAX + 16];
    struct stat sb;
    queue_file_path(dir, QUEUE_FILE_DATA, path, sizeof(path));
    assert_int_equal(stat(path, &sb), 0);
    assert_true(S_ISREG(sb.st_mode));
    queue_file_path(dir, QUEUE_FILE_LOCK, path, sizeof(path));
    assert_int_equal(stat(path, &sb), 0);
    assert_true(S_ISREG(sb.st_mode));

    struct queue_stats st;
    assert_int_equal(queue_stats(q, &st), QUEUE_OK);
    assert_int_equal(queue_disk_room(dir, st.file_bytes, &growth, &avail), QUEUE_OK);
    assert_int_equal(growth, 0); /* what the file holds needs no disk */
    assert_true(avail > 0);
    assert_int_equal(queue_disk_room(dir, st.file_bytes + 12345, &growth, &avail), QUEUE_OK);
    assert_int_equal(growth, 12345);

    /* A group takes more than its bytes, more with each batch, and the
     * stored (compressed) body is what counts. */
    static unsigned char body[100000], zbody[10];
    struct queue_batch b[2] = {{.body = body, .body_len = sizeof(body)},
                               {.body = body, .body_len = 10}};
    uint64_t empty = queue_group_footprint(b, 0);
    uint64_t one = queue_group_footprint(b, 1);
    assert_true(empty > 0);
    assert_true(one >= empty + sizeof(body));
    assert_true(queue_group_footprint(b, 2) > one);
    b[0].zbody = zbody;
    b[0].zbody_len = sizeof(zbody);
    assert_true(queue_group_footprint(b, 1) < one);

    /* What the estimate says a group takes, it does take at most. */
    b[0].zbody = NULL;
    b[0].zbody_len = 0;
    assert_int_equal(queue_append_group(q, b, 2), QUEUE_OK);
    struct queue_stats after;
    assert_int_equal(queue_stats(q, &after), QUEUE_OK);
    assert_true(after.used_bytes <= st.used_bytes + queue_group_footprint(b, 2));
    queue_close(q);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_modes, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(test_open_without_create, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(test_refuses_newer_version, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(test_sequence_never_reused, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(test_used_bytes_falls_after_drain, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(test_meta_blobs, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(test_daemon_lock, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(test_identity, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(test_backup_copy, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(test_reader_check, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(test_forked_reader_sees_commits, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(test_map_resized_by_other_process, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(test_layout, th_setup, th_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
