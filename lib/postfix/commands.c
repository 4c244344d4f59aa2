/* The remote commands spamstop runs on a Postfix host, as sh text. */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "postfix_scripts.h"
#include "spamstop/buf.h"
#include "spamstop/postfix.h"
#include "spamstop/shquote.h"

/*
 * Each command is shell-quoted assignments of its inputs, the parts
 * (functions) it uses, then one of the programs of lib/postfix/scripts
 * (embedded at build time, the preamble at its top).  Remote values enter
 * only quoted; queue ids and other data only on stdin.
 */

/* See postfix.h. */
bool postfix_dir_valid(const char *s, size_t n)
{
    size_t i;

    if (n == 0 || n > POSTFIX_DIR_MAX || s[0] != '/')
        return false;
    for (i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '/' || s[i] == '.' ||
              s[i] == '_' || s[i] == '+' || s[i] == '-'))
            return false;
    return true;
}

static int commands_assign(struct buf *b, const char *name, const char *value);

/*
 * Appends q and pdd, the directories given (checked again), else empty
 * and dirs.sh (the program asks postconf), then running.sh.
 */
static int commands_dirs(struct buf *b, const struct postfix_dirs *d)
{
    bool given = d != NULL && postfix_dir_valid(d->queue, strlen(d->queue)) &&
                 postfix_dir_valid(d->daemon, strlen(d->daemon));

    if (commands_assign(b, "q", given ? d->queue : "") < 0 ||
        commands_assign(b, "pdd", given ? d->daemon : "") < 0 ||
        (!given && buf_adds(b, script_dirs_sh) < 0))
        return SS_ERR;
    return buf_adds(b, script_running_sh);
}

/*
 * Appends script to b (the inputs already assigned) and hands the text to
 * *out; r < 0 (a failed assignment) or no memory: SS_ERR, *out NULL.
 */
static int commands_end(char **out, struct buf *b, int r, const char *script,
                        struct errbuf *err)
{
    *out = NULL;
    if (r < 0 || buf_adds(b, script) < 0) {
        buf_release(b);
        return errbuf_set(err, SS_ERR, "out of memory");
    }
    *out = buf_detach(b);
    return 0;
}

/* The directories, postsuper.sh, then script: a new string or NULL. */
static char *commands_postsuper(const struct postfix_dirs *d,
                                const char *script)
{
    struct errbuf err = ERRBUF_INIT;
    struct buf b = BUF_INIT;
    char *out = NULL;
    int r = commands_dirs(&b, d) < 0 || buf_adds(&b, script_postsuper_sh) < 0
                ? SS_ERR
                : 0;

    commands_end(&out, &b, r, script, &err);
    return out;
}

/* Returns the identify pass's script (caller frees); see identify.sh. */
char *postfix_identify_command(const struct postfix_dirs *dirs)
{
    struct errbuf err = ERRBUF_INIT;
    struct buf b = BUF_INIT;
    char keep[16], *out = NULL;
    int r;

    snprintf(keep, sizeof(keep), "%u", POSTFIX_RCPT_KEEP);
    r = commands_dirs(&b, dirs) < 0 ||
                commands_assign(&b, "F", script_identify_awk) < 0 ||
                commands_assign(&b, "B", script_identify_batch_sh) < 0 ||
                commands_assign(&b, "K", keep) < 0
            ? SS_ERR
            : 0;
    commands_end(&out, &b, r, script_identify_sh, &err);
    return out;
}

static const char *const service_names[] = {"none", "systemd", "sysv",
                                            "postfix"};

/* The word the detection script prints for svc. */
const char *postfix_service_name(enum postfix_service svc)
{
    if ((size_t)svc >= sizeof(service_names) / sizeof(service_names[0]))
        return "none";
    return service_names[svc];
}

/* Reads the first word of the detection output. */
int postfix_service_parse(enum postfix_service *out, const char *text,
                          size_t len, struct errbuf *err)
{
    size_t i, n = 0;

    *out = POSTFIX_SERVICE_NONE;
    while (n < len && text[n] != '\n' && text[n] != '\r' && text[n] != ' ')
        n++;
    for (i = 1; i < sizeof(service_names) / sizeof(service_names[0]); i++)
        if (strlen(service_names[i]) == n &&
            memcmp(text, service_names[i], n) == 0) {
            *out = (enum postfix_service)i;
            return 0;
        }
    return errbuf_set(err, SS_EINVAL,
                      "no way to control postfix was found on the host");
}

/* See postfix.h. */
int postfix_timer_name(char *out, size_t size, const char *id)
{
    size_t n = id != NULL ? strlen(id) : 0;

    if (n == 0 || n > 63 || id[0] == '-' ||
        strspn(id, "0123456789abcdefghijklmnopqrstuvwxyz-") != n ||
        size < sizeof(POSTFIX_TIMER_PREFIX) + n)
        return SS_EINVAL;
    memcpy(out, POSTFIX_TIMER_PREFIX, sizeof(POSTFIX_TIMER_PREFIX) - 1);
    memcpy(out + sizeof(POSTFIX_TIMER_PREFIX) - 1, id, n + 1);
    return 0;
}

/*
 * Appends the timer's inputs of stop.sh and start.sh (S, T, D, X, u, and
 * for a stop that arms it ra and R: running.sh and timer.sh), all empty
 * without t; SS_EINVAL for a bad id, directory or deadline.
 */
static int commands_timer_vars(struct buf *b, const struct postfix_timer *t,
                               enum postfix_service_op op, struct errbuf *err)
{
    const char *dir = t != NULL && t->dir != NULL ? t->dir : POSTFIX_TIMER_DIR;
    char name[sizeof(POSTFIX_TIMER_PREFIX) + 64], ra[16];
    struct buf tf = BUF_INIT, df = BUF_INIT, xf = BUF_INIT, rs = BUF_INIT;
    bool arm = t != NULL && op == POSTFIX_STOP && t->restart_after > 0;
    int r = SS_ERR;

    if (t != NULL) {
        if (postfix_timer_name(name, sizeof(name), t->id) < 0)
            return errbuf_set(err, SS_EINVAL, "bad timer id '%.64s'",
                              t->id != NULL ? t->id : "");
        if (!postfix_dir_valid(dir, strlen(dir)))
            return errbuf_set(err, SS_EINVAL, "bad timer folder '%.64s'", dir);
        if (t->restart_after < 0 || t->restart_after > POSTFIX_RESTART_MAX)
            return errbuf_set(err, SS_EINVAL,
                              "restart_after %d s is out of range (0-%d)",
                              t->restart_after, POSTFIX_RESTART_MAX);
        snprintf(ra, sizeof(ra), "%d", t->restart_after);
        if (buf_printf(&tf, "%s/%s.timer", dir, t->id) < 0 ||
            buf_printf(&df, "%s/%s.down", dir, t->id) < 0 ||
            buf_printf(&xf, "%s/%s.sh", dir, t->id) < 0 ||
            buf_adds(&rs, script_running_sh) < 0 ||
            buf_adds(&rs, script_timer_sh) < 0)
            goto out;
    }
    if (commands_assign(b, "S", t != NULL ? dir : "") < 0 ||
        commands_assign(b, "T", t != NULL ? tf.data : "") < 0 ||
        commands_assign(b, "D", t != NULL ? df.data : "") < 0 ||
        commands_assign(b, "X", t != NULL ? xf.data : "") < 0 ||
        commands_assign(b, "u", t != NULL ? name : "") < 0 ||
        commands_assign(b, "ra", arm ? ra : "") < 0 ||
        commands_assign(b, "R", arm ? rs.data : "") < 0)
        goto out;
    r = 0;
out:
    buf_release(&tf);
    buf_release(&df);
    buf_release(&xf);
    buf_release(&rs);
    if (r < 0)
        errbuf_set(err, r, "out of memory");
    return r;
}

/* See postfix.h. */
int postfix_service_command(char **out, enum postfix_service svc,
                            enum postfix_service_op op, int wait_s,
                            const struct postfix_dirs *dirs, struct errbuf *err)
{
    return postfix_service_command_timer(out, svc, op, wait_s, dirs, NULL, err);
}

/*
 * Builds a service command; see postfix.h, and stop.sh, start.sh and
 * status.sh.  One round trip: detection (when svc is
 * POSTFIX_SERVICE_NONE), the manager's name on stdout, then the status,
 * or the idempotent stop/start and the wait until master -t agrees.
 */
int postfix_service_command_timer(char **out, enum postfix_service svc,
                                  enum postfix_service_op op, int wait_s,
                                  const struct postfix_dirs *dirs,
                                  const struct postfix_timer *t,
                                  struct errbuf *err)
{
    struct buf b = BUF_INIT;
    const char *script = op == POSTFIX_STOP    ? script_stop_sh
                         : op == POSTFIX_START ? script_start_sh
                                               : script_status_sh;
    char ticks[16];
    int r;

    *out = NULL;
    if (wait_s < 0 || wait_s > 3600)
        return errbuf_set(err, SS_EINVAL, "service wait %d s is out of range",
                          wait_s);
    if ((size_t)svc >= sizeof(service_names) / sizeof(service_names[0]))
        return errbuf_set(err, SS_EINVAL, "unknown service manager");
    snprintf(ticks, sizeof(ticks), "%d", wait_s * 10);
    if ((r = commands_timer_vars(&b, op != POSTFIX_STATUS ? t : NULL, op,
                                 err)) < 0) {
        buf_release(&b);
        return r;
    }
    r = commands_dirs(&b, dirs) < 0 ||
                commands_assign(&b, "v",
                                svc == POSTFIX_SERVICE_NONE
                                    ? ""
                                    : service_names[svc]) < 0 ||
                commands_assign(&b, "ticks", ticks) < 0 ||
                buf_adds(&b, script_service_sh) < 0
            ? SS_ERR
            : 0;
    return commands_end(out, &b, r, script, err);
}

/*
 * Reads a clock reading "SECONDS[.FRACTION]" (at most 10 integer digits,
 * 9 fraction digits) as milliseconds; false when it is anything else.
 */
static bool commands_clock_ms(long long *out, const char *s, size_t n)
{
    long long v = 0;
    size_t i = 0, k, frac = 0;

    while (i < n && s[i] >= '0' && s[i] <= '9')
        v = v * 10 + (s[i++] - '0');
    if (i == 0 || i > 10)
        return false;
    if (i < n) {
        if (s[i++] != '.' || i == n || n - i > 9)
            return false;
        for (k = 0; i < n; i++, k++) {
            if (s[i] < '0' || s[i] > '9')
                return false;
            if (k < 3)
                frac += (size_t)(s[i] - '0') * (k == 0 ? 100 : k == 1 ? 10 : 1);
        }
    }
    *out = v * 1000 + (long long)frac;
    return true;
}

/* The n-th (from 0) space-separated word of line [p, e) into *w, *wn. */
static bool commands_word(const char **w, size_t *wn, const char *p,
                          const char *e, int n)
{
    const char *q;

    for (;;) {
        while (p < e && *p == ' ')
            p++;
        if (p == e)
            return false;
        for (q = p; q < e && *q != ' ';)
            q++;
        if (n-- == 0) {
            *w = p;
            *wn = (size_t)(q - p);
            return true;
        }
        p = q;
    }
}

/* Reads one "*** SPAMSTOP TIMER|DOWN ... ***" line (after the tag). */
static bool commands_info_line(struct postfix_service_info *o, bool down,
                               const char *p, const char *e)
{
    const char *w[4], *x;
    size_t wn[4], xn, i, nw = down ? 4 : 2;
    long long a, b, pid = 0;

    for (i = 0; i < nw; i++)
        if (!commands_word(&w[i], &wn[i], p, e, (int)i))
            return false;
    if (commands_word(&x, &xn, p, e, (int)nw) || wn[nw - 1] != 3 ||
        memcmp(w[nw - 1], "***", 3) != 0)
        return false; /* exactly the words, then the end marker */
    if (!down) {
        if (wn[0] == 7 && memcmp(w[0], "systemd", 7) == 0) {
            o->timer = POSTFIX_TIMER_SYSTEMD;
            return true;
        }
        if (wn[0] > 7)
            return false;
        for (i = 0; i < wn[0]; i++) {
            if (w[0][i] < '0' || w[0][i] > '9')
                return false;
            pid = pid * 10 + (w[0][i] - '0');
        }
        if (pid < 1 || pid > 4194304)
            return false;
        o->timer = POSTFIX_TIMER_PROCESS;
        o->pid = (long)pid;
        return true;
    }
    if (!commands_clock_ms(&a, w[0], wn[0]) ||
        !commands_clock_ms(&b, w[1], wn[1]) || b < a ||
        b - a > POSTFIX_DOWN_MAX_MS)
        return false;
    if (wn[2] == 5 && memcmp(w[2], "timer", 5) == 0)
        o->down_by_timer = true;
    else if (wn[2] != 5 || memcmp(w[2], "start", 5) != 0)
        return false;
    o->down_known = true;
    o->down_ms = b - a;
    return true;
}

/* See postfix.h. */
int postfix_service_info_parse(struct postfix_service_info *out,
                               const char *text, size_t len, struct errbuf *err)
{
    static const char timer_tag[] = "*** SPAMSTOP TIMER ";
    static const char down_tag[] = "*** SPAMSTOP DOWN ";
    const char *p = text, *end = text + len, *nl;
    bool seen_timer = false, ok = true;
    size_t n;

    memset(out, 0, sizeof(*out));
    for (; ok && p < end; p = nl + 1) {
        if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
            nl = end;
        n = (size_t)(nl - p);
        if (n >= sizeof(timer_tag) - 1 &&
            memcmp(p, timer_tag, sizeof(timer_tag) - 1) == 0)
            ok = !seen_timer &&
                 commands_info_line(out, false, p + sizeof(timer_tag) - 1, nl);
        else if (n >= sizeof(down_tag) - 1 &&
                 memcmp(p, down_tag, sizeof(down_tag) - 1) == 0)
            ok = !out->down_known &&
                 commands_info_line(out, true, p + sizeof(down_tag) - 1, nl);
        seen_timer = seen_timer || out->timer != POSTFIX_TIMER_NONE;
    }
    if (ok)
        return 0;
    memset(out, 0, sizeof(*out));
    return errbuf_set(err, SS_EINVAL,
                      "the service command printed a malformed timer or "
                      "down-time line");
}

/* Appends "name=QUOTED\n". */
static int commands_assign(struct buf *b, const char *name, const char *value)
{
    if (buf_printf(b, "%s=", name) < 0 || shquote_add(b, value) < 0)
        return SS_ERR;
    return buf_addc(b, '\n');
}

/* A path we pass must be absolute and free of newlines. */
static int commands_check_path(const char *path, const char *what,
                               struct errbuf *err)
{
    if (path == NULL || path[0] != '/' || strchr(path, '\n') != NULL ||
        strlen(path) > 1024)
        return errbuf_set(err, SS_EINVAL, "%s '%s' is not an absolute path",
                          what, path != NULL ? path : "");
    return 0;
}

/* Builds the snapshot command; see postfix.h and snapshot.sh. */
int postfix_snapshot_command(char **out, const char *dir, bool all,
                             const struct postfix_dirs *dirs,
                             struct errbuf *err)
{
    struct buf b = BUF_INIT;
    int r;

    *out = NULL;
    if ((r = commands_check_path(dir, "snapshot folder", err)) < 0)
        return r;
    r = commands_assign(&b, "d", dir) < 0 ||
                commands_assign(&b, "all", all ? "1" : "") < 0 ||
                commands_dirs(&b, dirs) < 0
            ? SS_ERR
            : 0;
    return commands_end(out, &b, r, script_snapshot_sh, err);
}

/*
 * Builds a restore command; see postfix.h, restore-in-place.sh and
 * restore-to-hold.sh.
 */
int postfix_restore_command(char **out, const char *tar_path,
                            enum postfix_restore_mode mode,
                            const struct postfix_dirs *dirs, struct errbuf *err)
{
    struct buf b = BUF_INIT;
    int r;

    *out = NULL;
    if ((r = commands_check_path(tar_path, "snapshot", err)) < 0)
        return r;
    r = commands_assign(&b, "t", tar_path) < 0 || commands_dirs(&b, dirs) < 0
            ? SS_ERR
            : 0;
    return commands_end(out, &b, r,
                        mode == POSTFIX_RESTORE_IN_PLACE
                            ? script_restore_in_place_sh
                            : script_restore_to_hold_sh,
                        err);
}

/* Builds a postsuper command with ids on stdin; see postsuper-*.sh. */
int postfix_postsuper_command(char **out, enum postfix_postsuper_op op,
                              bool require_stopped,
                              const struct postfix_dirs *dirs,
                              struct errbuf *err)
{
    struct buf b = BUF_INIT;
    const char *script;
    int r;

    *out = NULL;
    switch (op) {
    case POSTFIX_HOLD: script = script_postsuper_hold_sh; break;
    case POSTFIX_RELEASE: script = script_postsuper_release_sh; break;
    case POSTFIX_DELETE: script = script_postsuper_delete_sh; break;
    default: return errbuf_set(err, SS_EINVAL, "unknown postsuper operation");
    }
    r = commands_assign(&b, "stopped", require_stopped ? "1" : "") < 0 ||
                (require_stopped && commands_dirs(&b, dirs) < 0) ||
                buf_adds(&b, script_postsuper_sh) < 0
            ? SS_ERR
            : 0;
    return commands_end(out, &b, r, script, err);
}

/* Returns the hold-and-record script; see postfix.h and hold-record.sh. */
char *postfix_hold_record_command(const struct postfix_dirs *dirs)
{
    return commands_postsuper(dirs, script_hold_record_sh);
}

/* Returns the commit's delete script; see postfix.h and delete-held.sh. */
char *postfix_held_delete_command(const struct postfix_dirs *dirs)
{
    return commands_postsuper(dirs, script_delete_held_sh);
}

/* Builds "ID\n..." after checking every id; see postfix.h. */
int postfix_ids_input(char **out, size_t *out_len, const char *const *ids,
                      size_t n, struct errbuf *err)
{
    struct buf b = BUF_INIT;
    size_t i;
    int r = SS_ERR;

    *out = NULL;
    *out_len = 0;
    for (i = 0; i < n; i++) {
        if (!postfix_queue_id_valid(ids[i])) {
            r = errbuf_set(err, SS_EINVAL, "'%.80s' is not a postfix queue id",
                           ids[i] != NULL ? ids[i] : "");
            goto out;
        }
        if (buf_adds(&b, ids[i]) < 0 || buf_addc(&b, '\n') < 0) {
            r = errbuf_set(err, SS_ERR, "out of memory");
            goto out;
        }
    }
    *out_len = b.len;
    *out = buf_detach(&b);
    r = 0;
out:
    buf_release(&b);
    return r;
}

/* Sums the "postsuper: ...: N message(s)" totals; see postfix.h. */
int postfix_postsuper_parse_count(size_t *out, const char *text, size_t len,
                                  struct errbuf *err)
{
    const char *s = text, *end = len > 0 ? text + len : text, *nl, *p;
    size_t total = 0, v;

    (void)err;
    *out = 0;
    while (s < end) {
        nl = memchr(s, '\n', (size_t)(end - s));
        if (nl == NULL)
            nl = end;
        /* the number follows the last ": " of a postsuper line */
        if ((size_t)(nl - s) > 11 && memcmp(s, "postsuper: ", 11) == 0) {
            for (p = nl; p > s + 1 && !(p[-2] == ':' && p[-1] == ' '); p--)
                ;
            v = 0;
            if (p > s + 11 && p < nl && *p >= '0' && *p <= '9') {
                for (; p < nl && *p >= '0' && *p <= '9' && v < SIZE_MAX / 10;
                     p++)
                    v = v * 10 + (size_t)(*p - '0');
                if ((size_t)(nl - p) >= 8 && memcmp(p, " message", 8) == 0)
                    total += v;
            }
        }
        s = nl < end ? nl + 1 : end;
    }
    *out = total;
    return 0;
}
