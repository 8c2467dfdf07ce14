/*
 * bench_storage.c - the storage engine's write path against its ceilings.
 *
 * For bodies of ~10 KB (10 Currents events) and ~100 KB (100 events), with 1
 * and 32 bodies per transaction, full sync, it measures:
 *   engine   queue_append_group (record encode into MDB_RESERVE space,
 *            counters in meta, one commit per group)
 *   raw LMDB mdb_put(MDB_APPEND) of same-sized values, same group sizes,
 *            default flags: the storage ceiling
 * plus a raw pwrite(4 KiB)+fdatasync loop (the disk's sync ceiling) and
 * batch_validate throughput on the 100-event corpus body (per second of
 * CPU time, with its simdjson fast path and with yajl alone). Engine and raw
 * runs alternate for several rounds and the median is reported, since the
 * machine is shared and absolute numbers are noisy; the ratios are the
 * point.
 *
 * usage: bench_storage DATA_DIR [CORPUS_BODY]
 *   DATA_DIR must be on a real disk (not tmpfs): it is refused otherwise.
 *   BENCH_SECONDS (default 0.4) per run, BENCH_ROUNDS (default 9),
 *   BENCH_NOSYNC=1 runs both sides without fsync (the engine's CPU cost:
 *   mostly the body CRC32, ~2.7 us per 10 KB here).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/magic.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "../../storage/batch.h"
#include "../../storage/queue.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int rm_one(const char *p, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb, (void)type, (void)ftw;
    return remove(p);
}

static void rmrf(const char *dir)
{
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static unsigned char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    unsigned char *b = malloc((size_t)n);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* A body of the first n events of the corpus batch (real Currents shapes). */
static unsigned char *make_body(const unsigned char *corpus, size_t clen, size_t n, size_t *len)
{
    struct batch_event *ev;
    size_t cnt;
    if (batch_scan(corpus, clen, &ev, &cnt) != BATCH_OK || cnt < n)
        return NULL;
    unsigned char *out;
    if (batch_join(corpus, ev, n, &out, len) != BATCH_OK)
        out = NULL;
    free(ev);
    return out;
}

/* BENCH_NOSYNC=1: both sides without fsync, to see the engine's CPU cost
 * alone (never a durability figure). */
static int nosync;

struct result {
    double batches_s, mb_s;
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int run_engine(const char *dir, const unsigned char *body, size_t len, uint32_t events,
                      const char *types, size_t group, double secs, struct result *r)
{
    rmrf(dir);
    struct queue_options o = {
        .dir = dir, .map_size = 8ULL << 30, .sync_full = !nosync, .create = true};
    queue_t *q;
    char err[256];
    if (queue_open(&q, &o, err, sizeof(err)) != QUEUE_OK) {
        fprintf(stderr, "bench: %s\n", err);
        return -1;
    }
    struct queue_batch *b = calloc(group, sizeof(*b));
    size_t done = 0;
    double t0 = now_s(), t;
    do {
        for (size_t i = 0; i < group; i++)
            b[i] = (struct queue_batch){.body = body,
                                        .body_len = len,
                                        .write_key = "bench",
                                        .write_key_len = 5,
                                        .types = types,
                                        .types_len = strlen(types),
                                        .event_count = events,
                                        .received_ms = 1};
        int rc = queue_append_group(q, b, group);
        if (rc != QUEUE_OK) {
            fprintf(stderr, "bench: append: %s\n", queue_last_error());
            break;
        }
        done += group;
        t = now_s();
    } while (t - t0 < secs);
    t = now_s() - t0;
    r->batches_s = (double)done / t;
    r->mb_s = (double)done * (double)len / t / 1e6;
    free(b);
    queue_close(q);
    rmrf(dir);
    return 0;
}

static int run_raw(const char *dir, size_t vlen, size_t group, double secs, struct result *r)
{
    rmrf(dir);
    mkdir(dir, 0700);
    MDB_env *env;
    MDB_dbi dbi;
    MDB_txn *txn;
    int rc = mdb_env_create(&env);
    mdb_env_set_maxdbs(env, 4);
    mdb_env_set_mapsize(env, 8ULL << 30);
    if (rc || (rc = mdb_env_open(env, dir, nosync ? MDB_NOSYNC : 0, 0600)) != 0) {
        fprintf(stderr, "bench: raw open: %s\n", mdb_strerror(rc));
        return -1;
    }
    mdb_txn_begin(env, NULL, 0, &txn);
    mdb_dbi_open(txn, "pending", MDB_CREATE, &dbi);
    mdb_txn_commit(txn);
    unsigned char *val = malloc(vlen);
    memset(val, 'x', vlen);
    uint64_t seq = 0;
    size_t done = 0;
    double t0 = now_s(), t;
    do {
        if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0)
            break;
        for (size_t i = 0; i < group && rc == 0; i++) {
            unsigned char kb[8];
            uint64_t s = ++seq;
            for (int j = 7; j >= 0; j--, s >>= 8)
                kb[j] = (unsigned char)s;
            MDB_val k = {8, kb}, d = {vlen, val};
            rc = mdb_put(txn, dbi, &k, &d, MDB_APPEND);
        }
        if (rc == 0)
            rc = mdb_txn_commit(txn);
        else
            mdb_txn_abort(txn);
        if (rc) {
            fprintf(stderr, "bench: raw put: %s\n", mdb_strerror(rc));
            break;
        }
        done += group;
        t = now_s();
    } while (t - t0 < secs);
    t = now_s() - t0;
    r->batches_s = (double)done / t;
    r->mb_s = (double)done * (double)vlen / t / 1e6;
    free(val);
    mdb_env_close(env);
    rmrf(dir);
    return 0;
}

static double run_fdatasync(const char *dir, double secs)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/fsync.bin", dir);
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
    if (fd < 0)
        return 0;
    char buf[4096];
    memset(buf, 'y', sizeof(buf));
    size_t n = 0;
    double t0 = now_s();
    while (now_s() - t0 < secs) {
        if (pwrite(fd, buf, sizeof(buf), (off_t)((n % 256) * sizeof(buf))) !=
                (ssize_t)sizeof(buf) ||
            fdatasync(fd) != 0)
            break;
        n++;
    }
    double rate = (double)n / (now_s() - t0);
    close(fd);
    unlink(path);
    return rate;
}

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef int (*validate_fn)(const unsigned char *, size_t, struct batch_summary *, char *, size_t);

/* MB per second of this thread's CPU time (not wall time: the machine is
 * shared, and what ingest pays is CPU). */
static double validate_mb_s(validate_fn fn, const unsigned char *body, size_t len)
{
    size_t n = 0;
    double t0 = cpu_s();
    while (cpu_s() - t0 < 0.5) {
        struct batch_summary s;
        char err[128];
        if (fn(body, len, &s, err, sizeof(err)) != BATCH_OK)
            return 0;
        free(s.types);
        n++;
    }
    return (double)n * (double)len / (cpu_s() - t0) / 1e6;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_storage DATA_DIR [CORPUS_BODY]\n");
        return 2;
    }
    const char *base = argv[1];
    const char *corpus_path = argc > 2 ? argv[2] : "tests/fixtures/corpus/batch-00001.json";
    double secs = getenv("BENCH_SECONDS") ? atof(getenv("BENCH_SECONDS")) : 0.4;
    int rounds = getenv("BENCH_ROUNDS") ? atoi(getenv("BENCH_ROUNDS")) : 9;
    if (secs <= 0)
        secs = 0.4;
    if (rounds < 1 || rounds > 15)
        rounds = 9;
    nosync = getenv("BENCH_NOSYNC") && atoi(getenv("BENCH_NOSYNC"));
    mkdir(base, 0700);
    struct statfs sf;
    if (statfs(base, &sf) != 0) {
        fprintf(stderr, "bench: %s: %s\n", base, strerror(errno));
        return 1;
    }
    if (sf.f_type == TMPFS_MAGIC || sf.f_type == RAMFS_MAGIC) {
        fprintf(stderr,
                "bench: %s is on tmpfs/ramfs: fsync costs nothing there; use a dir on "
                "a real disk\n",
                base);
        return 1;
    }
    size_t clen;
    unsigned char *corpus = read_file(corpus_path, &clen);
    if (!corpus) {
        fprintf(stderr, "bench: cannot read %s\n", corpus_path);
        return 1;
    }
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/case", base);

    printf("# storage bench: data dir %s (fs magic 0x%lx), %.2f s per run, median of %d%s\n", base,
           (unsigned long)sf.f_type, secs, rounds,
           nosync ? ", NO SYNC (CPU cost only, not durable)" : ", full sync");
    double vmb = validate_mb_s(batch_validate, corpus, clen);
    double ymb = validate_mb_s(batch_validate_yajl, corpus, clen);
    printf("batch_validate on %s (%zu bytes): %.0f MB/s of CPU time (yajl alone %.0f MB/s)\n",
           corpus_path, clen, vmb, ymb);
    double fsyncs = run_fdatasync(base, secs);
    printf("raw pwrite(4 KiB)+fdatasync: %.0f /s  (the disk's sync ceiling)\n\n", fsyncs);

    size_t sizes[2] = {10, 100};
    size_t groups[2] = {1, 32};
    printf("%-10s %5s  %12s %9s  %12s %9s  %10s  %12s\n", "body", "group", "engine b/s", "MB/s",
           "raw b/s", "MB/s", "engine/raw", "commit/fsync");
    int worst = 0;
    double worst_ratio = 1e9;
    for (int si = 0; si < 2; si++) {
        size_t blen;
        unsigned char *body = make_body(corpus, clen, sizes[si], &blen);
        if (!body) {
            fprintf(stderr, "bench: corpus has fewer than %zu events\n", sizes[si]);
            return 1;
        }
        struct batch_summary sum;
        char err[128];
        if (batch_validate(body, blen, &sum, err, sizeof(err)) != BATCH_OK) {
            fprintf(stderr, "bench: generated body invalid: %s\n", err);
            return 1;
        }
        double eng_rate[2] = {0, 0}, raw_rate[2] = {0, 0};
        for (int gi = 0; gi < 2; gi++) {
            double e[15], emb[15], r[15], rmb[15], ratio_k[15];
            for (int k = 0; k < rounds; k++) {
                struct result re, rr;
                /* Alternate which goes first: the file system is still
                 * freeing the previous run's files for a while. */
                size_t vlen = blen + 48 + 5 + sum.types_len;
                int fail = k % 2 ? run_raw(dir, vlen, groups[gi], secs, &rr) ||
                                       run_engine(dir, body, blen, sum.events, sum.types,
                                                  groups[gi], secs, &re)
                                 : run_engine(dir, body, blen, sum.events, sum.types, groups[gi],
                                              secs, &re) ||
                                       run_raw(dir, vlen, groups[gi], secs, &rr);
                if (fail)
                    return 1;
                e[k] = re.batches_s, emb[k] = re.mb_s, r[k] = rr.batches_s, rmb[k] = rr.mb_s;
                ratio_k[k] = re.batches_s / rr.batches_s;
            }
            qsort(e, (size_t)rounds, sizeof(double), cmp_double);
            qsort(emb, (size_t)rounds, sizeof(double), cmp_double);
            qsort(r, (size_t)rounds, sizeof(double), cmp_double);
            qsort(rmb, (size_t)rounds, sizeof(double), cmp_double);
            qsort(ratio_k, (size_t)rounds, sizeof(double), cmp_double);
            int m = rounds / 2;
            /* The median of per-round ratios: each pair ran back to back,
             * so a load change between rounds cancels out. */
            double ratio = ratio_k[m];
            char label[32];
            snprintf(label, sizeof(label), "%zuKB/%zuev", (blen + 512) / 1024, sizes[si]);
            /* Engine commits per second against the raw fdatasync rate
             * (an LMDB commit costs two syncs: data, then the meta page). */
            printf("%-10s %5zu  %12.0f %9.1f  %12.0f %9.1f  %10.2f  %12.2f\n", label, groups[gi],
                   e[m], emb[m], r[m], rmb[m], ratio,
                   fsyncs > 0 ? e[m] / (double)groups[gi] / fsyncs : 0.0);
            eng_rate[gi] = e[m];
            raw_rate[gi] = r[m];
            if (groups[gi] > 1 && ratio < worst_ratio) {
                worst_ratio = ratio;
                worst = si;
            }
        }
        printf("%-10s       1->32 speed-up: engine %.1fx, raw %.1fx\n", "",
               eng_rate[1] / eng_rate[0], raw_rate[1] / raw_rate[0]);
        free(sum.types);
        free(body);
    }
    printf("\ngroup append engine/raw LMDB, worst case (%s): %.2f (target >= 0.80)\n",
           worst ? "100 KB" : "10 KB", worst_ratio);
    free(corpus);
    rmdir(base);
    return 0;
}
