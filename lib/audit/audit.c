/* Writing the audit trail: one chained JSON line per record, thread-safe. */
#include <errno.h>
#include <pthread.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "audit/audit_int.h"
#include "spamstop/audit.h"
#include "spamstop/fsio.h"

struct audit {
    pthread_mutex_t lock;
    int fd;
    char *path;
    char *run_id;
    char *operator_name;
    char *sudo_user;
    uint64_t seq;                  /* seq of the last record written */
    char prev[SHA256_HEX_LEN + 1]; /* hash of the last line */
    bool torn; /* a failed write left part of a line that could not be cut */
};

/* Frees everything but does not sync; for audit_open's failure path. */
static void audit_free(struct audit *a)
{
    if (a == NULL)
        return;
    /* audit_close synced it; after a failed open nothing needs keeping. */
    if (a->fd >= 0)
        (void)close(a->fd);
    (void)pthread_mutex_destroy(&a->lock); /* unlocked: cannot fail */
    free(a->path);
    free(a->run_id);
    free(a->operator_name);
    free(a->sudo_user);
    free(a);
}

/* The local user's name, or "uid N" when it has none; caller frees. */
static char *audit_operator(void)
{
    char buf[64];
    struct passwd *pw = getpwuid(geteuid());

    if (pw != NULL && pw->pw_name != NULL && pw->pw_name[0] != '\0')
        return strdup(pw->pw_name);
    snprintf(buf, sizeof(buf), "uid %ld", (long)geteuid());
    return strdup(buf);
}

/* Allocates a trail writer for path and run_id, with no file open yet. */
static int audit_new(struct audit **out, const char *path, const char *run_id,
                     struct errbuf *err)
{
    struct audit *a = calloc(1, sizeof(*a));
    const char *sudo = getenv("SUDO_USER");

    *out = NULL;
    if (a == NULL)
        return errbuf_set(err, SS_ERR, "out of memory");
    a->fd = -1;
    if (pthread_mutex_init(&a->lock, NULL) != 0) {
        free(a);
        return errbuf_set(err, SS_ERR, "cannot create audit lock");
    }
    a->path = strdup(path);
    a->run_id = strdup(run_id);
    a->operator_name = audit_operator();
    if (sudo != NULL && sudo[0] != '\0')
        a->sudo_user = strdup(sudo);
    if (a->path == NULL || a->run_id == NULL || a->operator_name == NULL ||
        (sudo != NULL && sudo[0] != '\0' && a->sudo_user == NULL)) {
        audit_free(a);
        return errbuf_set(err, SS_ERR, "out of memory");
    }
    *out = a;
    return 0;
}

/*
 * Reads the trail back through the same code as verify: *vr describes its
 * whole records, *out_len their bytes and *out_torn those of a last line
 * without its newline (a write the controller did not finish: killed,
 * disk full).  A damaged trail, or another run's, is SS_ECORRUPT.
 */
static int audit_read_back(struct audit_verify_result *vr, size_t *out_len,
                           size_t *out_torn, const struct audit *a,
                           struct errbuf *err)
{
    struct audit_scan scan;
    char *data = NULL;
    size_t len = 0, torn = 0;
    int r;

    if ((r = fsio_read_file(&data, &len, a->path, AUDIT_FILE_MAX, err)) < 0)
        return r;
    while (len > 0 && data[len - 1] != '\n') {
        len--;
        torn++;
    }
    r = audit_scan_string(vr, &scan, data, len, NULL);
    free(data);
    if (r < 0)
        return errbuf_set(err, r, "cannot read audit trail '%s'", a->path);
    if (!vr->ok)
        return errbuf_set(err, SS_ECORRUPT, "audit trail '%s' is damaged: %s",
                          a->path, vr->reason);
    if (vr->records > 0 && strcmp(scan.run, a->run_id) != 0)
        return errbuf_set(err, SS_ECORRUPT,
                          "audit trail '%s' belongs to run '%s', not '%s'",
                          a->path, scan.run, a->run_id);
    *out_len = len;
    *out_torn = torn;
    return 0;
}

/* Cuts the torn bytes after len and says so in the trail. */
static int audit_cut_torn(struct audit *a, size_t len, size_t torn,
                          struct errbuf *err)
{
    struct audit_record note = AUDIT_RECORD_INIT;
    char detail[128];
    int r;

    if ((r = fsio_truncate(a->fd, (off_t)len, err)) < 0) {
        errbuf_prefix(err, "cannot cut the torn end of '%s'", a->path);
        return r;
    }
    snprintf(detail, sizeof(detail),
             "cut %zu bytes of a record whose write was not finished", torn);
    note.event = "note";
    note.detail = detail;
    return audit_append(a, &note, err);
}

int audit_open(struct audit **out, const char *path, const char *run_id,
               struct errbuf *err)
{
    struct audit *a = NULL;
    struct audit_verify_result vr;
    size_t len = 0, torn = 0;
    int r;

    *out = NULL;
    if (run_id == NULL || run_id[0] == '\0')
        return errbuf_set(err, SS_EINVAL, "audit trail needs a run id");
    if ((r = audit_new(&a, path, run_id, err)) < 0)
        return r;
    if ((r = fsio_open_append(&a->fd, path, err)) < 0 ||
        (r = audit_read_back(&vr, &len, &torn, a, err)) < 0)
        goto out;
    a->seq = vr.records;
    if (vr.records == 0)
        memset(a->prev, '0', SHA256_HEX_LEN);
    else
        memcpy(a->prev, vr.head, SHA256_HEX_LEN);
    a->prev[SHA256_HEX_LEN] = '\0';
    /* Only an otherwise intact trail loses its torn end. */
    if (torn > 0 && (r = audit_cut_torn(a, len, torn, err)) < 0)
        goto out;
    *out = a;
    a = NULL;
out:
    audit_free(a);
    return r;
}

/* RFC 3339 UTC time with milliseconds, e.g. 2024-05-01T10:00:00.123Z. */
static void audit_now(char out[40])
{
    struct timespec ts;
    struct tm tm;
    size_t n;

    /* CLOCK_REALTIME always exists, and any time_t it gives converts. */
    (void)clock_gettime(CLOCK_REALTIME, &ts);
    (void)gmtime_r(&ts.tv_sec, &tm);
    n = strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 40 - n, ".%03dZ", (int)(ts.tv_nsec / 1000000) % 1000);
}

/* Sets key to a string or JSON null; returns 0 or SS_ERR. */
static int audit_set_str(json_t *o, const char *key, const char *s)
{
    json_t *v = s != NULL ? json_string(s) : json_null();

    /* Strings that are not UTF-8 are kept, with bad bytes replaced. */
    if (v == NULL && s != NULL)
        v = audit_json_text(s, strlen(s), NULL);
    if (v == NULL)
        return SS_ERR;
    return json_object_set_new(o, key, v) == 0 ? 0 : SS_ERR;
}

/* Sets key only when s is not NULL. */
static int audit_set_opt(json_t *o, const char *key, const char *s)
{
    return s == NULL ? 0 : audit_set_str(o, key, s);
}

/* Sets key to an integer. */
static int audit_set_int(json_t *o, const char *key, json_int_t n)
{
    return json_object_set_new(o, key, json_integer(n)) == 0 ? 0 : SS_ERR;
}

/* Adds one stream's byte count, digest and excerpt under prefix. */
static int audit_set_stream(json_t *o, const char *prefix, const struct buf *b,
                            uint64_t total, const unsigned char sha[SHA256_LEN])
{
    char key[64], hex[SHA256_HEX_LEN + 1];
    size_t n = b->data != NULL ? b->len : 0;
    size_t replaced = 0;
    json_t *text;

    if (n > AUDIT_EXCERPT_MAX)
        n = AUDIT_EXCERPT_MAX;
    snprintf(key, sizeof(key), "%s_bytes", prefix);
    if (audit_set_int(o, key, (json_int_t)total) < 0)
        return SS_ERR;
    hex_encode(hex, sha, SHA256_LEN);
    snprintf(key, sizeof(key), "%s_sha256", prefix);
    if (audit_set_str(o, key, hex) < 0)
        return SS_ERR;
    text = audit_json_text(n > 0 ? b->data : "", n, &replaced);
    snprintf(key, sizeof(key), "%s_excerpt", prefix);
    if (text == NULL || json_object_set_new(o, key, text) != 0)
        return SS_ERR;
    snprintf(key, sizeof(key), "%s_truncated", prefix);
    if (json_object_set_new(o, key, json_boolean(n < total)) != 0)
        return SS_ERR;
    if (replaced > 0) {
        /* Bytes that were not UTF-8 show as U+FFFD in the excerpt. */
        snprintf(key, sizeof(key), "%s_replaced", prefix);
        if (audit_set_int(o, key, (json_int_t)replaced) < 0)
            return SS_ERR;
    }
    return 0;
}

/* Builds the record without seq, time and prev (set under the lock). */
static int audit_build(json_t **out, const struct audit *a,
                       const struct audit_record *rec, struct errbuf *err)
{
    const struct exec_result *res = rec->result;
    json_t *o = json_object(), *data = NULL;
    json_error_t jerr;
    int r = SS_ERR;

    *out = NULL;
    if (o == NULL)
        return errbuf_set(err, SS_ERR, "out of memory");
    /* Placeholders fix the field order; jansson keeps insertion order. */
    if (json_object_set_new(o, "seq", json_null()) != 0 ||
        json_object_set_new(o, "time", json_null()) != 0 ||
        audit_set_str(o, "run", a->run_id) < 0 ||
        audit_set_str(o, "operator", a->operator_name) < 0 ||
        audit_set_str(o, "sudo_user", a->sudo_user) < 0 ||
        audit_set_str(o, "event", rec->event != NULL ? rec->event : "note") <
            0 ||
        audit_set_opt(o, "host", rec->host) < 0 ||
        audit_set_opt(o, "fingerprint", rec->fingerprint) < 0 ||
        audit_set_opt(o, "step", rec->step) < 0 ||
        audit_set_opt(o, "phase", rec->phase) < 0 ||
        audit_set_opt(o, "command", rec->command) < 0)
        goto nomem;
    if (rec->command != NULL || rec->stdin_bytes > 0) {
        if (audit_set_int(o, "stdin_bytes", (json_int_t)rec->stdin_bytes) < 0 ||
            json_object_set_new(o, "stdin_secret",
                                json_boolean(rec->stdin_secret)) != 0)
            goto nomem;
    }
    if (res != NULL) {
        if (json_object_set_new(o, "exit",
                                res->exit_status >= 0
                                    ? json_integer(res->exit_status)
                                    : json_null()) != 0 ||
            audit_set_str(o, "signal",
                          res->exit_signal[0] != '\0' ? res->exit_signal
                                                      : NULL) < 0)
            goto nomem;
    }
    if (audit_set_str(o, "rc", ss_code_name(rec->rc)) < 0)
        goto nomem;
    if (res != NULL) {
        if (audit_set_int(o, "duration_ms", (json_int_t)res->duration_ms) < 0 ||
            audit_set_stream(o, "stdout", &res->out, res->out_bytes,
                             res->out_sha256) < 0 ||
            audit_set_stream(o, "stderr", &res->err, res->err_bytes,
                             res->err_sha256) < 0)
            goto nomem;
    }
    if (audit_set_opt(o, "detail", rec->detail) < 0)
        goto nomem;
    if (rec->extra_json != NULL) {
        data = json_loads(rec->extra_json, JSON_REJECT_DUPLICATES, &jerr);
        if (data == NULL || !json_is_object(data)) {
            r = errbuf_set(err, SS_EINVAL,
                           "audit record data is not a JSON object: %s",
                           data == NULL ? jerr.text : "not an object");
            goto out;
        }
        if (json_object_set(o, "data", data) != 0)
            goto nomem;
    }
    if (json_object_set_new(o, "prev", json_null()) != 0)
        goto nomem;
    *out = o;
    o = NULL;
    r = 0;
    goto out;
nomem:
    r = errbuf_set(err, SS_ERR, "out of memory building an audit record");
out:
    json_decref(data);
    json_decref(o);
    return r;
}

int audit_append(struct audit *a, const struct audit_record *rec,
                 struct errbuf *err)
{
    json_t *o = NULL;
    char now[40], hex[SHA256_HEX_LEN + 1];
    char *line = NULL;
    struct stat st;
    off_t end = -1;
    size_t n;
    int r, locked = 0;

    if ((r = audit_build(&o, a, rec, err)) < 0)
        return r;
    r = SS_ERR;
    pthread_mutex_lock(&a->lock);
    locked = 1;
    if (a->torn) {
        errbuf_set(err, SS_ERR,
                   "audit trail '%s' ends in a torn record that could not "
                   "be cut: nothing more is written to it",
                   a->path);
        goto out;
    }
    audit_now(now);
    if (audit_set_int(o, "seq", (json_int_t)(a->seq + 1)) < 0 ||
        audit_set_str(o, "time", now) < 0 ||
        audit_set_str(o, "prev", a->prev) < 0) {
        errbuf_set(err, SS_ERR, "out of memory building an audit record");
        goto out;
    }
    line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (line == NULL) {
        errbuf_set(err, SS_ERR, "cannot serialise an audit record");
        goto out;
    }
    n = strlen(line);
    if (sha256_hex(hex, line, n) < 0) {
        errbuf_set(err, SS_ERR, "cannot hash an audit record");
        goto out;
    }
    /* One write of line and newline: O_APPEND keeps it whole. */
    if (fstat(a->fd, &st) == 0)
        end = st.st_size;
    line[n] = '\n';
    r = fsio_append(a->fd, line, n + 1, 0, err);
    line[n] = '\0';
    if (r < 0) {
        /*
         * The chain does not advance: a retry continues from here.  A
         * short write (a full disk) left part of the line: cut it, or a
         * later record, once space is freed, would follow a torn one and
         * the whole trail would read as edited.  If it cannot be cut,
         * nothing more is written: the torn line stays last, where
         * audit_open cuts it.
         */
        if (end < 0 || fsio_truncate(a->fd, end, NULL) < 0)
            a->torn = true;
        errbuf_prefix(err, "cannot write audit trail '%s'", a->path);
        r = err != NULL ? err->code : SS_ERR;
        goto out;
    }
    a->seq++;
    memcpy(a->prev, hex, sizeof(a->prev));
    r = 0;
out:
    if (locked)
        pthread_mutex_unlock(&a->lock);
    free(line);
    json_decref(o);
    return r;
}

void audit_get_anchor(struct audit *a, struct audit_anchor *out)
{
    pthread_mutex_lock(&a->lock);
    out->records = a->seq;
    if (a->seq == 0)
        out->head[0] = '\0';
    else
        memcpy(out->head, a->prev, sizeof(out->head));
    pthread_mutex_unlock(&a->lock);
}

int audit_sync(struct audit *a, struct errbuf *err)
{
    if (fdatasync(a->fd) < 0)
        return errbuf_errno(err, SS_ERR, "cannot sync audit trail '%s'",
                            a->path);
    return 0;
}

void audit_close(struct audit *a)
{
    if (a == NULL)
        return;
    /* Callers that must know the trail is on disk call audit_sync first. */
    (void)fdatasync(a->fd);
    audit_free(a);
}
