/*
 * record.c - the on-disk record format (see record.h for the layout).
 *
 * Owns encoding and checked decoding of one stored batch. Decoding never
 * trusts a length field: every length is checked against the buffer before
 * use, and two CRC32s catch flipped bytes in the header, key, types and
 * body, so a damaged value read from LMDB is an error, never a crash.
 */
#include "record.h"

#include <stdbool.h>

#include <isa-l/crc.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "compress.h"
#include "le.h"

/* Deflate never does better than ~1032:1; a gzip record claiming more than
 * this raw length for its stored bytes is damaged, and is refused before
 * anything is allocated for it. */
#define RECORD_GZIP_MAX_RATIO 1100

static const unsigned char magic[4] = {'E', 'D', 'R', '1'};

uint32_t record_crc32(uint32_t crc, const void *p, size_t n)
{
    /* ISA-L's folding (PCLMULQDQ) CRC: the same value as zlib's crc32(), at
     * ~75 GB/s instead of ~5.5 (a 94 KB body: 1.3 us instead of 17). */
    return crc32_gzip_refl(crc, (const unsigned char *)p, (uint64_t)n);
}

/* Length of the types list once cut to RECORD_TYPES_MAX at a '\n' boundary,
 * so a stored list never ends in half a type name. */
static size_t types_stored_len(const struct record *r)
{
    if (r->types_len <= RECORD_TYPES_MAX)
        return r->types_len;
    size_t cut = RECORD_TYPES_MAX;
    while (cut > 0 && r->types[cut] != '\n')
        cut--;
    return cut;
}

/* The types field record_encode writes. */
static size_t types_field_len(const struct record *r)
{
    return (r->flags & RECORD_F_TYPES_Z) ? r->types_zlen : types_stored_len(r);
}

/* The body bytes record_encode writes. */
static size_t stored_len(const struct record *r)
{
    return (r->flags & RECORD_F_GZIP) ? r->stored_len : r->body_len;
}

size_t record_size(const struct record *r)
{
    return RECORD_HEADER_SIZE + r->write_key_len + types_field_len(r) + stored_len(r);
}

static uint8_t version_of(uint8_t flags)
{
    if (flags & RECORD_F_TYPES_Z)
        return 3;
    return (flags & RECORD_F_GZIP) ? 2 : RECORD_VERSION_RAW;
}

size_t record_encode(const struct record *r, unsigned char *out)
{
    size_t tlen = types_field_len(r);
    uint8_t flags = r->flags;
    bool tz = flags & RECORD_F_TYPES_Z;
    if (tz ? r->types_len > RECORD_TYPES_MAX : tlen < r->types_len)
        flags |= RECORD_F_TYPES_CUT;
    bool gz = flags & RECORD_F_GZIP;
    const unsigned char *sbody = gz ? r->stored : r->body;
    size_t slen = stored_len(r);
    const void *tfield = tz ? (const void *)r->types_z : (const void *)r->types;

    memcpy(out, magic, 4);
    out[4] = version_of(flags);
    out[5] = flags;
    le_put(out + 6, (uint16_t)r->write_key_len, 2);
    le_put(out + 8, (uint32_t)tlen, 4);
    le_put(out + 12, r->event_count, 4);
    le_put(out + 16, (uint64_t)r->received_ms, 8);
    le_put(out + 24, r->origin_seq, 8);
    le_put(out + 32, (uint64_t)r->body_len, 8);
    le_put(out + 40, record_crc32(0, sbody, slen), 4);

    unsigned char *p = out + RECORD_HEADER_SIZE;
    if (r->write_key_len)
        memcpy(p, r->write_key, r->write_key_len);
    p += r->write_key_len;
    if (tlen)
        memcpy(p, tfield, tlen);
    p += tlen;

    uint32_t hcrc = record_crc32(0, out, 44);
    hcrc = record_crc32(hcrc, out + RECORD_HEADER_SIZE, r->write_key_len + tlen);
    le_put(out + 44, hcrc, 4);

    if (slen)
        memcpy(p, sbody, slen);
    return RECORD_HEADER_SIZE + r->write_key_len + tlen + slen;
}

int record_decode(const void *buf, size_t len, struct record *r)
{
    const unsigned char *b = buf;
    memset(r, 0, sizeof(*r));
    if (len < 4)
        return RECORD_TRUNCATED;
    if (memcmp(b, magic, 4) != 0)
        return RECORD_BAD_MAGIC;
    if (len < RECORD_HEADER_SIZE)
        return RECORD_TRUNCATED;
    if (b[4] == 0 || b[4] > RECORD_VERSION)
        return RECORD_BAD_VERSION;

    size_t klen = (size_t)le_get(b + 6, 2);
    size_t tlen = (size_t)le_get(b + 8, 4);
    uint64_t blen = le_get(b + 32, 8);
    size_t room = len - RECORD_HEADER_SIZE;
    /* The version says how the body and types are stored: 1 raw, 2 gzip
     * body, 3 gzip body and deflated types; a record whose flags disagree
     * was not written by record_encode. */
    bool gz = b[5] & RECORD_F_GZIP;
    bool tz = b[5] & RECORD_F_TYPES_Z;
    if (b[4] != version_of(b[5]) || (tz && !gz))
        return RECORD_BAD_CRC;
    /* Checked one at a time so no sum can overflow. */
    if (klen > room || tlen > room - klen)
        return RECORD_TRUNCATED;
    size_t slen = room - klen - tlen; /* the stored body: what is left */
    if (gz) {
        /* The raw length only bounds what inflating may produce. */
        if (slen == 0 || blen / RECORD_GZIP_MAX_RATIO > slen)
            return RECORD_BAD_CRC;
    } else {
        if (blen > slen)
            return RECORD_TRUNCATED;
        if (blen != slen)
            return RECORD_BAD_CRC; /* trailing bytes: the lengths were damaged */
    }

    uint32_t hcrc = record_crc32(0, b, 44);
    hcrc = record_crc32(hcrc, b + RECORD_HEADER_SIZE, klen + tlen);
    if (hcrc != le_get(b + 44, 4))
        return RECORD_BAD_CRC;
    const unsigned char *body = b + RECORD_HEADER_SIZE + klen + tlen;
    if (record_crc32(0, body, slen) != le_get(b + 40, 4))
        return RECORD_BAD_CRC;
    const unsigned char *tfield = b + RECORD_HEADER_SIZE + klen;
    size_t traw = tlen;
    if (tz) {
        /* Its length, then at least one byte of deflate. */
        traw = tlen >= 3 ? (size_t)le_get(tfield, 2) : 0;
        if (tlen < 3 || traw > RECORD_TYPES_MAX)
            return RECORD_BAD_CRC;
    }

    r->version = b[4];
    r->flags = b[5];
    r->event_count = (uint32_t)le_get(b + 12, 4);
    r->received_ms = (int64_t)le_get(b + 16, 8);
    r->origin_seq = le_get(b + 24, 8);
    r->write_key = klen ? (const char *)b + RECORD_HEADER_SIZE : NULL;
    r->write_key_len = klen;
    r->types = tz ? NULL : (const char *)tfield;
    r->types_len = traw;
    r->types_z = tz ? tfield : NULL;
    r->types_zlen = tz ? tlen : 0;
    r->body = gz ? NULL : body;
    r->body_len = (size_t)blen;
    r->stored = body;
    r->stored_len = slen;
    return RECORD_OK;
}

int record_inflate(struct record *r, unsigned char **mem)
{
    *mem = NULL;
    if (r->body || !(r->flags & RECORD_F_GZIP))
        return RECORD_OK;
    unsigned char *out = malloc(r->body_len ? r->body_len : 1);
    if (!out)
        return RECORD_NOMEM;
    if (compress_gunzip(r->stored, r->stored_len, out, r->body_len) != COMPRESS_OK) {
        free(out);
        return RECORD_BAD_GZIP;
    }
    r->body = out;
    *mem = out;
    return RECORD_OK;
}

/* The preset dictionary of a deflated types list: Braze's published
 * Currents event types, so a list of known types deflates to a couple of
 * bytes a type (230 bytes for a corpus list of 60, 530 without it), and an
 * unknown one just compresses less. Part of the version 3 format: never
 * change it (a new dictionary needs a new version). */
static const char types_dict[] =
    "agentconsole.AgentExecuted\nagentconsole.ToolInvocation\n"
    "users.behaviors.CustomEvent\nusers.behaviors.InstallAttribution\n"
    "users.behaviors.Location\nusers.behaviors.Purchase\nusers.behaviors.Uninstall\n"
    "users.behaviors.app.FirstSession\nusers.behaviors.app.SessionEnd\n"
    "users.behaviors.app.SessionStart\nusers.behaviors.liveactivity.PushToStartTokenChange\n"
    "users.behaviors.liveactivity.UpdateTokenChange\n"
    "users.behaviors.pushnotification.TokenStateChange\n"
    "users.behaviors.subscription.GlobalStateChange\n"
    "users.behaviors.subscriptiongroup.StateChange\nusers.campaigns.Conversion\n"
    "users.campaigns.EnrollInControl\nusers.canvas.Conversion\nusers.canvas.Entry\n"
    "users.canvas.costep.Send\nusers.canvas.exit.MatchedAudience\n"
    "users.canvas.exit.PerformedEvent\nusers.canvas.experimentstep.Conversion\n"
    "users.canvas.experimentstep.SplitEntry\nusers.canvasstep.Progression\n"
    "users.messages.banner.Abort\nusers.messages.banner.Click\n"
    "users.messages.banner.Dismiss\nusers.messages.banner.Impression\n"
    "users.messages.contentcard.Abort\nusers.messages.contentcard.Click\n"
    "users.messages.contentcard.Dismiss\nusers.messages.contentcard.Impression\n"
    "users.messages.contentcard.Send\nusers.messages.email.Abort\n"
    "users.messages.email.Bounce\nusers.messages.email.Click\n"
    "users.messages.email.Deferral\nusers.messages.email.Delivery\n"
    "users.messages.email.MarkAsSpam\nusers.messages.email.Open\n"
    "users.messages.email.Retry\nusers.messages.email.Send\n"
    "users.messages.email.SoftBounce\nusers.messages.email.Unsubscribe\n"
    "users.messages.featureflag.Impression\nusers.messages.inappmessage.Abort\n"
    "users.messages.inappmessage.Click\nusers.messages.inappmessage.Impression\n"
    "users.messages.line.Abort\nusers.messages.line.Click\n"
    "users.messages.line.InboundReceive\nusers.messages.line.Retry\n"
    "users.messages.line.Send\nusers.messages.liveactivity.Outcome\n"
    "users.messages.liveactivity.Send\nusers.messages.newsfeedcard.Abort\n"
    "users.messages.newsfeedcard.Click\nusers.messages.newsfeedcard.Impression\n"
    "users.messages.pushnotification.Abort\nusers.messages.pushnotification.Bounce\n"
    "users.messages.pushnotification.IosForeground\nusers.messages.pushnotification.Open\n"
    "users.messages.pushnotification.Retry\nusers.messages.pushnotification.Send\n"
    "users.messages.rcs.Abort\nusers.messages.rcs.Click\nusers.messages.rcs.Delivery\n"
    "users.messages.rcs.InboundReceive\nusers.messages.rcs.Read\n"
    "users.messages.rcs.Rejection\nusers.messages.rcs.Send\nusers.messages.sms.Abort\n"
    "users.messages.sms.CarrierSend\nusers.messages.sms.Delivery\n"
    "users.messages.sms.DeliveryFailure\nusers.messages.sms.InboundReceive\n"
    "users.messages.sms.Rejection\nusers.messages.sms.Retry\nusers.messages.sms.Send\n"
    "users.messages.sms.ShortLinkClick\nusers.messages.webhook.Abort\n"
    "users.messages.webhook.Failure\nusers.messages.webhook.Retry\n"
    "users.messages.webhook.Send\nusers.messages.whatsapp.Abort\n"
    "users.messages.whatsapp.Click\nusers.messages.whatsapp.Delivery\n"
    "users.messages.whatsapp.Failure\nusers.messages.whatsapp.InboundReceive\n"
    "users.messages.whatsapp.Read\nusers.messages.whatsapp.Retry\n"
    "users.messages.whatsapp.Send\nusers.RandomBucketNumberUpdate\n"
    "users.UserDeleteRequest\nusers.UserOrphan\nusers.profile.Update\n";

/* Raw deflate with an 8 KiB window: the dictionary (3 KB) and the longest
 * list (RECORD_TYPES_MAX) both stay in reach; small state, set up per call.
 * Level 6 with memLevel 2 packs the corpus lists to the same bytes as
 * level 9 with memLevel 8 did (157 a record on average) in ~15 us instead
 * of ~35-45 (build/bench/compress_ratio prints both figures): the
 * lists are ~2 KB, so a bigger hash only costs its setup. Neither setting
 * is in the stream; any inflater reads it. */
#define TYPES_WBITS (-13)
#define TYPES_LEVEL 6
#define TYPES_MEMLEVEL 2

int record_pack_types(const char *types, size_t len, unsigned char **out, size_t *outlen)
{
    struct record cut = {.types = types, .types_len = len};
    len = types_stored_len(&cut);
    *out = NULL;
    *outlen = 0;
    if (len < 3)
        return COMPRESS_NO_GAIN;
    unsigned char *f = malloc(len);
    if (!f)
        return COMPRESS_NOMEM;
    z_stream zs = {0};
    if (deflateInit2(&zs, TYPES_LEVEL, Z_DEFLATED, TYPES_WBITS, TYPES_MEMLEVEL,
                     Z_DEFAULT_STRATEGY) != Z_OK) {
        free(f);
        return COMPRESS_NOMEM;
    }
    int rc = deflateSetDictionary(&zs, (const Bytef *)types_dict, sizeof(types_dict) - 1);
    zs.next_in = (Bytef *)types;
    zs.avail_in = (uInt)len;
    zs.next_out = f + 2;
    zs.avail_out = (uInt)(len - 3); /* at least a byte smaller, or no gain */
    if (rc == Z_OK)
        rc = deflate(&zs, Z_FINISH);
    size_t n = zs.total_out;
    deflateEnd(&zs);
    if (rc != Z_STREAM_END) {
        free(f);
        return COMPRESS_NO_GAIN;
    }
    le_put(f, (uint16_t)len, 2);
    *out = f;
    *outlen = n + 2;
    return COMPRESS_OK;
}

int record_unpack_types(struct record *r, char **mem)
{
    *mem = NULL;
    if (r->types || !(r->flags & RECORD_F_TYPES_Z))
        return RECORD_OK;
    char *out = malloc(r->types_len + 1);
    if (!out)
        return RECORD_NOMEM;
    z_stream zs = {0};
    if (inflateInit2(&zs, TYPES_WBITS) != Z_OK) {
        free(out);
        return RECORD_NOMEM;
    }
    int rc = inflateSetDictionary(&zs, (const Bytef *)types_dict, sizeof(types_dict) - 1);
    zs.next_in = (Bytef *)r->types_z + 2;
    zs.avail_in = (uInt)(r->types_zlen - 2);
    zs.next_out = (Bytef *)out;
    zs.avail_out = (uInt)r->types_len;
    if (rc == Z_OK)
        rc = inflate(&zs, Z_FINISH);
    /* Exactly the stream, exactly types_len bytes. */
    bool ok = rc == Z_STREAM_END && zs.avail_in == 0 && zs.total_out == r->types_len;
    inflateEnd(&zs);
    if (!ok) {
        free(out);
        return RECORD_BAD_TYPES;
    }
    out[r->types_len] = '\0';
    r->types = out;
    *mem = out;
    return RECORD_OK;
}

const char *record_strerror(int status)
{
    switch (status) {
    case RECORD_OK:
        return "ok";
    case RECORD_TRUNCATED:
        return "record truncated (shorter than its header says)";
    case RECORD_BAD_MAGIC:
        return "not an eddy record (bad magic)";
    case RECORD_BAD_VERSION:
        return "record written by a newer eddy (unknown format version)";
    case RECORD_BAD_CRC:
        return "record checksum mismatch (corrupt)";
    case RECORD_BAD_GZIP:
        return "record body does not inflate to its length and checksum (corrupt)";
    case RECORD_NOMEM:
        return "out of memory inflating the record";
    case RECORD_BAD_TYPES:
        return "record type list does not inflate to its length (corrupt)";
    default:
        return "unknown record status";
    }
}
