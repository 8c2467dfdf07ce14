/*
 * layout.c - the store as files in a data dir, for the callers above
 * storage: the names of LMDB's files, the pages a group of batches will
 * take, and the room left for the data file to grow. The committer's
 * backpressure, eddyd's start checks and eddy backup's progress ask here
 * instead of knowing LMDB's page size, its file names or the record header.
 */
#include <stdio.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "queue_internal.h"

/* LMDB's page on the platforms eddy runs on (it uses the OS page size). An
 * estimate only: backpressure rounds up with it and keeps a reserve. */
#define LAYOUT_PAGE 4096u
/* Tree and meta pages one transaction touches besides its records. */
#define LAYOUT_TXN_PAGES 4u
/* Room for a record's LMDB node header and key, rounded up generously. */
#define LAYOUT_NODE_SLACK 64u

static const char *const file_names[QUEUE_FILES] = {"data.mdb", "lock.mdb"};

int queue_file_path(const char *dir, enum queue_file which, char *buf, size_t len)
{
    return snprintf(buf, len, "%s/%s", dir, file_names[which]);
}

bool queue_store_exists(const char *dir)
{
    char path[PATH_MAX + 16];
    struct stat st;
    queue_file_path(dir, QUEUE_FILE_DATA, path, sizeof(path));
    return stat(path, &st) == 0;
}

uint64_t queue_group_footprint(const struct queue_batch *b, size_t n)
{
    uint64_t need = LAYOUT_TXN_PAGES * LAYOUT_PAGE;
    for (size_t i = 0; i < n; i++) {
        size_t body = b[i].zbody ? b[i].zbody_len : b[i].body_len; /* as stored */
        uint64_t rec =
            RECORD_HEADER_SIZE + b[i].write_key_len + b[i].types_len + body + LAYOUT_NODE_SLACK;
        need += (rec + LAYOUT_PAGE - 1) / LAYOUT_PAGE * LAYOUT_PAGE;
    }
    return need;
}

int queue_disk_room(const char *dir, uint64_t used_after, uint64_t *growth, uint64_t *avail)
{
    char path[PATH_MAX + 16];
    struct stat st;
    struct statvfs vfs;
    queue_file_path(dir, QUEUE_FILE_DATA, path, sizeof(path));
    if (stat(path, &st) != 0 || statvfs(dir, &vfs) != 0)
        return QUEUE_ERROR;
    uint64_t file = (uint64_t)st.st_size;
    *growth = used_after > file ? used_after - file : 0;
    *avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
    return QUEUE_OK;
}
