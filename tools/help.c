/*
 * help.c - the CLI's help texts, one per command, with examples: what an
 * operator reads at 3 a.m. before touching the dead-letter queue. Kept in
 * one place so the texts stay consistent with each other and the man page.
 */
#include <stdio.h>
#include <string.h>

#include "help.h"

static const struct {
    const char *topic;
    const char *text;
} topics[] = {
    {"eddy",
     "usage: eddy [-c FILE | -d DATA_DIR] COMMAND [ARGS]\n"
     "\n"
     "Inspect and repair an eddy store, whether eddyd is running or not.\n"
     "\n"
     "  -c FILE       read [storage] data_dir from eddyd's config FILE\n"
     "  -d DATA_DIR   the store directory (default: $EDDY_DATA_DIR, else ./var/eddy)\n"
     "  -h, --help    this text; eddy COMMAND --help for a command\n"
     "  --version     print the version\n"
     "\n"
     "commands:\n"
     "  status [--json]                       queue depth, dead letters, delivery state\n"
     "  pending list [FILTERS] [--limit N] [--json]\n"
     "  pending show ID [--raw]               one pending batch, attempts and body\n"
     "  pending bury ID... --reason TEXT      set pending batches aside into the DLQ\n"
     "  pause SOURCE | resume SOURCE          stop / restart delivery of one source\n"
     "  dlq list [FILTERS] [--limit N] [--json]\n"
     "  dlq show ID [--raw]                   one dead letter, its attempts and body\n"
     "  dlq replay (ID... | --all | FILTERS) [--dry-run]\n"
     "  dlq purge (ID... | --all | FILTERS) [--older-than DUR] [--yes] [--dry-run]\n"
     "  dlq export [FILTERS] [-o FILE]        NDJSON: metadata and body per line\n"
     "  find EVENT_ID                         is this event pending, dead, or not here\n"
     "  verify                                check every record's checksum and structure\n"
     "  backup DEST_DIR                       consistent compacting hot copy\n"
     "  compact [--keep-old]                  eddyd stopped: shrink the file to what is live\n"
     "\n"
     "FILTERS: --type GLOB --since TIME --until TIME --status CODE --reason TEXT\n"
     "         --event-id ID --source FP   (TIME: RFC 3339 like 2026-11-28T10:00:00Z, or an age\n"
     "         like 2h, 30m, 7d meaning that long ago)\n"
     "\n"
     "exit status: 0 ok, 1 failure (including an id not found), 2 usage error\n"
     "\n"
     "examples:\n"
     "  eddy -c /etc/eddy/eddy.conf status\n"
     "  eddy -d /var/lib/eddy dlq list --since 2h --status 400\n"
     "  eddy -d /var/lib/eddy dlq replay --type 'users.*' --dry-run\n"},
    {"status", "usage: eddy status [--json]\n"
               "\n"
               "Pending batches, events, bytes and the age of the oldest; dead letters;\n"
               "storage used and the map size; eddyd's delivery state (ok, backoff, held,\n"
               "paused: the worst of all sources), last HTTP status and last error as eddyd\n"
               "last recorded them; then each source (the fingerprint of a write key) with\n"
               "its pending batches and events, oldest age, state, since when, last status\n"
               "and error.\n"
               "\n"
               "  --json   one JSON object, the same as eddyd's GET /status\n"
               "\n"
               "examples:\n"
               "  eddy -d /var/lib/eddy status\n"
               "  eddy -d /var/lib/eddy status --json | jq .pending.batches\n"},
    {"pending", "usage: eddy pending list [FILTERS] [--source FP] [--limit N] [--json]\n"
                "       eddy pending show ID [--raw | --json]\n"
                "       eddy pending bury ID... --reason TEXT\n"
                "\n"
                "Batches stored and not yet delivered, oldest first: source, attempts (all,\n"
                "COUNTED toward max_attempts, NET without an HTTP answer), last status and\n"
                "next try; NEXT TRY says 'probing' for the batch a held or backing-off source\n"
                "is probing RudderStack with. show prints one batch's metadata, attempt\n"
                "history and body (pretty-printed; --raw: the stored bytes exactly). FILTERS\n"
                "are those of dlq list; --since/--until apply to the received time. bury\n"
                "moves batches to the dead-letter queue with reason 'operator: TEXT'\n"
                "(replayable as any dead letter).\n"
                "\n"
                "examples:\n"
                "  eddy -d /var/lib/eddy pending list --limit 20\n"
                "  eddy -d /var/lib/eddy pending list --source 3f2a9c1e --json\n"
                "  eddy -d /var/lib/eddy pending show 1042 --raw > batch.json\n"
                "  eddy -d /var/lib/eddy pending bury 1042 --reason 'refused by RudderStack'\n"},
    {"pending bury", "usage: eddy pending bury ID... --reason TEXT\n"
                     "\n"
                     "Moves the pending batches ID... to the dead-letter queue, reason\n"
                     "'operator: TEXT', each in one transaction. Replay them with dlq replay.\n"
                     "\n"
                     "example:\n"
                     "  eddy -d /var/lib/eddy pending bury 1042 --reason 'bad batch'\n"},
    {"pause", "usage: eddy pause SOURCE\n"
              "\n"
              "Stops delivery of one source (SOURCE: the fingerprint eddy status lists);\n"
              "its batches stay pending, the other sources go on. Kept in the store: works\n"
              "with eddyd stopped and holds across restarts; a running eddyd follows within\n"
              "a second. eddy resume SOURCE undoes it.\n"
              "\n"
              "example:\n"
              "  eddy -d /var/lib/eddy pause 3f2a9c1e\n"},
    {"resume", "usage: eddy resume SOURCE\n"
               "\n"
               "Restarts delivery of a source stopped with eddy pause.\n"
               "\n"
               "example:\n"
               "  eddy -d /var/lib/eddy resume 3f2a9c1e\n"},
    {"dlq", "usage: eddy dlq list|show|replay|purge|export ...\n"
            "\n"
            "The dead-letter queue: batches RudderStack refused for good (bisected down\n"
            "to the events it refused) or that failed past max_attempts and retry_window.\n"
            "Run eddy dlq SUBCOMMAND --help for each.\n"},
    {"dlq list", "usage: eddy dlq list [FILTERS] [--limit N] [--json]\n"
                 "\n"
                 "Dead letters in id order: events, size, types, last status, attempts,\n"
                 "replays, age and reason. --json prints one object per line with id, events,\n"
                 "event_types, bytes, received_at, dead_at, reason, last_status, attempts,\n"
                 "first_failed_at, last_failed_at, replays (times RFC 3339 UTC).\n"
                 "\n"
                 "FILTERS (all must match):\n"
                 "  --type GLOB      an event type matches the shell glob (users.*)\n"
                 "  --since TIME     dead-lettered at or after TIME\n"
                 "  --until TIME     dead-lettered before TIME\n"
                 "  --status CODE    last HTTP status was CODE\n"
                 "  --reason TEXT    the reason contains TEXT\n"
                 "  --event-id ID    holds an event whose \"id\" is ID\n"
                 "TIME is RFC 3339 (2026-11-28T10:00:00Z) or an age: 90s, 30m, 2h, 7d.\n"
                 "\n"
                 "examples:\n"
                 "  eddy dlq list --since 2h --status 400\n"
                 "  eddy dlq list --type 'users.messages.*' --json | jq .id\n"},
    {"dlq show", "usage: eddy dlq show ID [--raw | --json]\n"
                 "\n"
                 "One dead letter: metadata, the reason, every kept attempt (time, status,\n"
                 "start of the answer) and the body pretty-printed (numbers and keys as\n"
                 "stored). --raw prints only the stored body, byte for byte; --json the\n"
                 "metadata and attempts as one JSON object.\n"
                 "\n"
                 "examples:\n"
                 "  eddy dlq show 17\n"
                 "  eddy dlq show 17 --raw | curl --data-binary @- ...\n"},
    {"dlq replay", "usage: eddy dlq replay (ID... | --all | FILTERS) [--dry-run]\n"
                   "\n"
                   "Moves dead letters back to pending under new sequence numbers (replay\n"
                   "count + 1); eddyd then delivers them again. Works in chunks of short\n"
                   "transactions, so eddyd keeps ingesting; ^C stops between chunks with every\n"
                   "record in exactly one place. Listed ids must all exist, else nothing moves.\n"
                   "\n"
                   "  --all        every dead letter\n"
                   "  --dry-run    list what would move and change nothing (--json: as lines)\n"
                   "  --chunk N    records per transaction (default 1000)\n"
                   "  FILTERS      as for dlq list\n"
                   "\n"
                   "examples:\n"
                   "  eddy dlq replay 17 18 19\n"
                   "  eddy dlq replay --status 400 --since 1d --dry-run\n"
                   "  eddy dlq replay --all\n"},
    {"dlq purge",
     "usage: eddy dlq purge (ID... | --all | FILTERS) [--older-than DUR] [--yes] [--dry-run]\n"
     "\n"
     "Deletes dead letters for good. Asks for confirmation on a terminal; --yes skips\n"
     "the question and is required when stdin is not a terminal. Chunked like replay.\n"
     "\n"
     "  --all             every dead letter\n"
     "  --older-than DUR  only those dead-lettered more than DUR ago (7d, 12h)\n"
     "  --yes             do not ask\n"
     "  --dry-run         list what would be deleted and change nothing\n"
     "  --chunk N         records per transaction (default 1000)\n"
     "  FILTERS           as for dlq list\n"
     "\n"
     "examples:\n"
     "  eddy dlq purge --older-than 30d --yes\n"
     "  eddy dlq purge --type 'test.*'\n"},
    {"dlq export", "usage: eddy dlq export [FILTERS] [-o FILE]\n"
                   "\n"
                   "Writes one JSON object per line and dead letter: the dlq list --json fields,\n"
                   "the attempt history, and the body. \"body\" holds the stored body as JSON,\n"
                   "verbatim (line breaks between tokens become spaces); a body that is not\n"
                   "valid UTF-8 JSON comes as \"body_base64\" instead.\n"
                   "\n"
                   "  -o FILE   write to FILE instead of stdout\n"
                   "\n"
                   "examples:\n"
                   "  eddy dlq export --since 1d -o dlq.ndjson\n"
                   "  eddy dlq export --type 'users.*' | jq -c .body.events[]\n"},
    {"find", "usage: eddy find EVENT_ID [--json]\n"
             "\n"
             "Says where the event with this \"id\" is: pending (which batch), dead (which\n"
             "dead letter), or not here (exit 1).\n"
             "\n"
             "example:\n"
             "  eddy find 2f6c3e1e-4c1b-4b5e-9d0e-8d1c1a6f0b7e\n"},
    {"verify", "usage: eddy verify\n"
               "\n"
               "Reads every pending record and dead letter and checks its checksums and\n"
               "structure (and that its body is still a Currents batch). Reports each\n"
               "damaged record; exits 1 when any is found.\n"
               "\n"
               "example:\n"
               "  eddy -d /var/lib/eddy verify\n"},
    {"backup", "usage: eddy backup DEST_DIR\n"
               "\n"
               "A consistent, compacting copy of the live store into DEST_DIR (created if\n"
               "missing, must be empty), safe while eddyd runs. Read it back with\n"
               "eddy -d DEST_DIR status.\n"
               "\n"
               "example:\n"
               "  eddy -d /var/lib/eddy backup /backup/eddy-$(date +%F)\n"},
    {"compact", "usage: eddy compact [--keep-old]\n"
                "\n"
                "With eddyd stopped, rewrites the store so its file holds only what is live\n"
                "(LMDB's file never shrinks by itself after a backlog drains). Copies the\n"
                "live pages into DATA_DIR.compact, compares every entry of the copy with the\n"
                "original, exchanges the two dirs in one rename, reads the new store back,\n"
                "then removes the old one (--keep-old leaves it in DATA_DIR.compact).\n"
                "Needs free disk for what is in use. Refuses while eddyd runs, and holds\n"
                "eddyd's lock so none starts meanwhile; run no other eddy command on the\n"
                "store while it works.\n"
                "\n"
                "example:\n"
                "  systemctl stop eddyd && eddy -c /etc/eddy/eddy.conf compact && systemctl start "
                "eddyd\n"},
};

void cli_help(const char *topic, FILE *out)
{
    for (size_t i = 0; i < sizeof topics / sizeof topics[0]; i++) {
        if (strcmp(topics[i].topic, topic) == 0) {
            fputs(topics[i].text, out);
            return;
        }
    }
    fputs(topics[0].text, out);
}

int cli_usage_error(const char *topic, const char *fmt, const char *arg)
{
    fputs("eddy: ", stderr);
    fprintf(stderr, fmt, arg ? arg : "");
    if (strcmp(topic, "eddy") == 0)
        fputs("\nTry 'eddy --help'.\n", stderr);
    else
        fprintf(stderr, "\nTry 'eddy %s --help'.\n", topic);
    return 2;
}
