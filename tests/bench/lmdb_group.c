/*
 * lmdb_group.c - the ingest benchmark's storage ceiling: raw LMDB group
 * commit of one body, GROUP puts with MDB_APPEND per transaction, default
 * (durable) flags, for SECONDS. No record encoding, no HTTP, no JSON: what
 * eddyd's committer could reach at best with that group size on this disk.
 *
 * usage: lmdb_group DIR BODY_FILE GROUP SECONDS   (prints "bodies/s commits/s")
 */
#include <errno.h>
#include <lmdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: lmdb_group DIR BODY_FILE GROUP SECONDS\n");
        return 2;
    }
    FILE *f = fopen(argv[2], "rb");
    if (!f) {
        perror(argv[2]);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    rewind(f);
    char *body = malloc((size_t)len + 1);
    if (!body || fread(body, 1, (size_t)len, f) != (size_t)len) {
        fclose(f);
        return 1;
    }
    fclose(f);
    int group = atoi(argv[3]);
    double seconds = atof(argv[4]);
    if (group < 1)
        group = 1;
    mkdir(argv[1], 0700);
    MDB_env *env;
    MDB_dbi dbi;
    MDB_txn *txn;
    int rc = mdb_env_create(&env);
    if (!rc)
        rc = mdb_env_set_mapsize(env, (size_t)64 << 30);
    if (!rc)
        rc = mdb_env_open(env, argv[1], 0, 0600);
    if (!rc)
        rc = mdb_txn_begin(env, NULL, 0, &txn);
    if (!rc)
        rc = mdb_dbi_open(txn, NULL, 0, &dbi);
    if (!rc)
        rc = mdb_txn_commit(txn);
    if (rc) {
        fprintf(stderr, "lmdb_group: %s\n", mdb_strerror(rc));
        return 1;
    }
    uint64_t seq = 0, commits = 0;
    double t0 = now_s(), t;
    do {
        rc = mdb_txn_begin(env, NULL, 0, &txn);
        for (int i = 0; !rc && i < group; i++) {
            unsigned char k[8];
            seq++;
            for (int b = 0; b < 8; b++)
                k[b] = (unsigned char)(seq >> (56 - 8 * b));
            MDB_val key = {8, k}, val = {(size_t)len, body};
            rc = mdb_put(txn, dbi, &key, &val, MDB_APPEND);
        }
        if (!rc)
            rc = mdb_txn_commit(txn);
        if (rc) {
            fprintf(stderr, "lmdb_group: %s\n", mdb_strerror(rc));
            return 1;
        }
        commits++;
        t = now_s();
    } while (t - t0 < seconds);
    printf("%.1f %.1f\n", (double)seq / (t - t0), (double)commits / (t - t0));
    mdb_env_close(env);
    free(body);
    return 0;
}
