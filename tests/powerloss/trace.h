/*
 * trace.h - the record format of recorder.c's traces (one file per process,
 * records back to back, little-endian, read by powerloss.py).
 *
 * Each record is this header, then path_len bytes of path (open: the file's
 * name relative to the data dir; rename/unlink: absolute "old\nnew"), then
 * len bytes of data (a write: exactly the bytes written, at file offset
 * off). t0/t1 are CLOCK_MONOTONIC nanoseconds before and after the call.
 */
#ifndef EDDY_PL_TRACE_H
#define EDDY_PL_TRACE_H

#include <stdint.h>

#define PL_MAGIC 0x31524c50u /* "PLR1" */

enum pl_op {
    PL_OPEN = 1,       /* fd, flags (open(2) flags: O_DSYNC/O_SYNC/O_TRUNC matter) */
    PL_CLOSE = 2,      /* fd */
    PL_DUP = 3,        /* fd is a new descriptor for the file of descriptor off */
    PL_WRITE = 4,      /* fd, off, len bytes of data (ret: the call's result) */
    PL_TRUNCATE = 5,   /* fd, off = new size */
    PL_FSYNC = 6,      /* fd */
    PL_FDATASYNC = 7,  /* fd (also written after a pwritev2 with RWF_DSYNC) */
    PL_SYNC_RANGE = 8, /* fd, off, arg = bytes: sync_file_range, no durability promise */
    PL_MSYNC = 9,      /* off = address, arg = length: no file known, no effect */
    PL_SYNC_ALL = 10,  /* sync() or syncfs(): every file */
    PL_RENAME = 11,    /* path "old\nnew" */
    PL_UNLINK = 12,    /* path "old\n" */
};

struct pl_record {
    uint32_t magic;
    uint8_t op;
    uint8_t pad[3];
    int32_t pid;
    int32_t fd;
    int32_t flags;
    int32_t err; /* errno when ret < 0 */
    int64_t t0, t1;
    int64_t off;
    int64_t arg;
    int64_t ret;
    uint64_t len;
    uint32_t path_len;
    uint32_t pad2;
};

#endif
