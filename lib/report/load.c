/* Reads a run folder into the report model (never its credentials). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "spamstop/audit.h"
#include "spamstop/digest.h"
#include "spamstop/fsio.h"
#include "spamstop/journal.h"
#include "spamstop/report.h"
#include "spamstop/text.h"
#include "report/report_int.h"

/* Reads path; *out NULL (and 0) when it does not exist. */
static int report_read(char **out, size_t *len, const char *path, size_t max,
                       struct errbuf *err)
{
    *out = NULL;
    *len = 0;
    if (access(path, F_OK) < 0 && errno == ENOENT)
        return 0;
    return fsio_read_file(out, len, path, max, err);
}

/* SHA-256 and size of a regular file, read in blocks (it may be a big tar). */
static int report_digest_file(struct report_file *f, int dirfd,
                              const char *name, struct errbuf *err)
{
    unsigned char buf[65536], md[SHA256_LEN];
    struct sha256_ctx c;
    ssize_t n;
    int fd, r = 0;

    fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errbuf_errno(err, SS_ERR, "cannot open evidence '%s'", name);
    if (sha256_begin(&c) < 0) {
        close(fd); /* read only: nothing to lose */
        return errbuf_set(err, SS_ERR, "cannot hash '%s'", name);
    }
    f->bytes = 0;
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        if (sha256_update(&c, buf, (size_t)n) < 0)
            break;
        f->bytes += n;
    }
    if (n < 0) {
        r = errbuf_errno(err, SS_ERR, "cannot read evidence '%s'", name);
        sha256_abort(&c);
    } else if (n > 0) {
        r = errbuf_set(err, SS_ERR, "cannot hash '%s'", name);
        sha256_abort(&c);
    } else if (sha256_end(&c, md) < 0) {
        r = errbuf_set(err, SS_ERR, "cannot hash '%s'", name);
    } else {
        hex_encode(f->sha256, md, SHA256_LEN);
        f->sha256[SHA256_HEX_LEN] = '\0';
    }
    close(fd); /* read only: nothing to lose */
    return r;
}

static int report_file_cmp(const void *a, const void *b)
{
    return strcmp(((const struct report_file *)a)->path,
                  ((const struct report_file *)b)->path);
}

/* Lists and hashes the regular files of evidence/<host>/ (rel: its path). */
static int report_evidence(struct report_host *h, const char *dir,
                           const char *rel, struct errbuf *err)
{
    struct report_file *files = NULL, *nf;
    struct dirent *de;
    struct stat st;
    struct buf path = BUF_INIT;
    size_t n = 0, alloc = 0, len;
    DIR *d = opendir(dir);
    int r = 0;

    if (d == NULL)
        return errno == ENOENT
                   ? 0
                   : errbuf_errno(err, SS_ERR, "cannot read '%s'", dir);
    while (r == 0 && (errno = 0, de = readdir(d)) != NULL) {
        len = strlen(de->d_name);
        /* a file that vanished or is no regular file is no evidence */
        if (de->d_name[0] == '.' ||
            (len > 4 && strcmp(de->d_name + len - 4, ".tmp") == 0) ||
            fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
            !S_ISREG(st.st_mode))
            continue;
        if (n == alloc) {
            alloc = alloc ? alloc * 2 : 8;
            if ((nf = realloc(files, alloc * sizeof(*nf))) == NULL) {
                r = errbuf_set(err, SS_ERR, "out of memory");
                break;
            }
            files = nf;
        }
        memset(&files[n], 0, sizeof(files[n]));
        buf_reset(&path);
        if (buf_printf(&path, "%s/%s", rel, de->d_name) < 0 ||
            (files[n].path = report_clean(path.data)) == NULL) {
            r = errbuf_set(err, SS_ERR, "out of memory");
            break;
        }
        n++;
        r = report_digest_file(&files[n - 1], dirfd(d), de->d_name, err);
    }
    if (r == 0 && de == NULL && errno != 0)
        r = errbuf_errno(err, SS_ERR, "cannot read '%s'", dir);
    closedir(d); /* read only: nothing to lose */
    buf_release(&path);
    if (n > 0)
        qsort(files, n, sizeof(*files), report_file_cmp);
    h->files = files;
    h->n_files = n;
    return r;
}

/* Says what the run folder does not tell about this host. */
static int report_host_notes(struct report_host *h)
{
    size_t i;
    bool snap = false;

    for (i = 0; i < h->n_steps; i++)
        if (strcmp(h->steps[i].action, "snapshot") == 0)
            snap = true;
    if (h->journaled && !h->findings.present &&
        report_push(&h->notes, "no identify findings in the evidence folder: "
                               "suspects unknown") < 0)
        return SS_ERR;
    if (h->journaled && !h->before.present &&
        report_push(&h->notes,
                    snap ? "no queue listing: the snapshot step did not run "
                           "here, so the queue is known only as the identify "
                           "pass counted it"
                         : "no queue listing: the playbook has no snapshot "
                           "step") < 0)
        return SS_ERR;
    if (h->after.present &&
        report_push(&h->notes,
                    "the queue after the run was not listed on the host: "
                    "those counts are derived from the snapshot listing and "
                    "the purge step's journal") < 0)
        return SS_ERR;
    for (i = 0; i < h->n_files; i++)
        if (!h->files[i].in_trail) {
            if (report_push(&h->notes,
                            "evidence files marked 'not in trail' were "
                            "written on this machine; their digests were "
                            "computed by the report, not recorded in the "
                            "audit trail") < 0)
                return SS_ERR;
            break;
        }
    return 0;
}

/*
 * Reads the <step>.evidence.json (ev: the host's evidence folder) of each
 * step of action with parse; one that parse does not take (SS_EINVAL)
 * gets note instead.  The engine keeps a step's evidence when it
 * succeeded; verify writes its own also when it fails.
 */
static int report_step_evidence(struct report_host *h, const char *ev,
                                const char *action,
                                int (*parse)(struct report_host *, const char *,
                                             size_t, struct errbuf *),
                                const char *note, struct errbuf *err)
{
    struct buf path = BUF_INIT;
    char *text = NULL;
    size_t len = 0, i;
    int r = 0;

    for (i = 0; r == 0 && i < h->n_steps; i++) {
        if (strcmp(h->steps[i].action, action) != 0)
            continue;
        buf_reset(&path);
        if (buf_printf(&path, "%s/", ev) < 0 ||
            fsname_escape(&path, h->steps[i].name) < 0 ||
            buf_adds(&path, ".evidence.json") < 0) {
            r = errbuf_set(err, SS_ERR, "out of memory");
            break;
        }
        if ((r = report_read(&text, &len, path.data, 16u << 20, err)) < 0 ||
            text == NULL)
            continue;
        r = parse(h, text, len, err);
        if (r == SS_EINVAL)
            r = report_push(&h->notes, note) < 0
                    ? errbuf_set(err, SS_ERR, "out of memory")
                    : 0;
        free(text);
        text = NULL;
    }
    buf_release(&path);
    return r;
}

/*
 * The findings of the last identify pass that ran (ev: the host's evidence
 * folder); *out_listing is that pass's step, NULL when none left findings.
 */
static int report_load_findings(struct report_host *h,
                                const struct report_step **out_listing,
                                const char *ev, struct errbuf *err)
{
    struct buf path = BUF_INIT;
    char *text = NULL;
    size_t len = 0, i;
    int r = 0;

    *out_listing = NULL;
    for (i = h->n_steps; i-- > 0 && !h->findings.present;) {
        const struct report_step *st = &h->steps[i];
        if (strcmp(st->action, "identify") != 0 ||
            strcmp(st->status, "read") != 0)
            continue;
        buf_reset(&path);
        if (buf_printf(&path, "%s/%s.json", ev,
                       st->reg != NULL ? st->reg : st->name) < 0)
            goto nomem;
        if ((r = report_read(&text, &len, path.data, REPORT_FILE_MAX, err)) < 0)
            goto out;
        if (text == NULL)
            continue;
        r = report_parse_findings(&h->findings, text, len, err);
        free(text);
        text = NULL;
        if (r < 0)
            goto out;
        if (report_set(&h->findings.step, st->name) < 0)
            goto nomem;
        *out_listing = st;
    }
    r = 0;
    goto out;
nomem:
    r = errbuf_set(err, SS_ERR, "out of memory");
out:
    buf_release(&path);
    return r;
}

/*
 * The queue before: the listing the identify pass listing kept
 * (<register>.queue.json), aged from when it ran; runs before it kept one
 * took it in the snapshot step (queue.json, postqueue -j), aged from the
 * snapshot.  Then the queue after, derived from it.
 */
static int report_load_queue(struct report_host *h,
                             const struct report_step *listing, const char *ev,
                             struct errbuf *err)
{
    struct buf path = BUF_INIT;
    char *text = NULL;
    size_t len = 0, i;
    long long at = 0;
    int r;

    if (listing != NULL) {
        if (buf_printf(&path, "%s/%s.queue.json", ev,
                       listing->reg != NULL ? listing->reg : listing->name) < 0)
            goto nomem;
        if ((r = report_read(&text, &len, path.data, REPORT_FILE_MAX, err)) < 0)
            goto out;
        at = listing->at;
    }
    if (text == NULL) {
        at = 0;
        for (i = 0; i < h->n_steps; i++)
            if (strcmp(h->steps[i].action, "snapshot") == 0 &&
                h->steps[i].at > 0)
                at = h->steps[i].at;
        buf_reset(&path);
        if (buf_printf(&path, "%s/queue.json", ev) < 0)
            goto nomem;
        if ((r = report_read(&text, &len, path.data, REPORT_FILE_MAX, err)) < 0)
            goto out;
        h->before.from_snapshot = text != NULL;
    }
    if (text != NULL &&
        ((r = report_parse_queue(&h->before, text, len, at, err)) < 0 ||
         (r = report_derive_after(h, text, len, err)) < 0))
        goto out;
    r = 0;
    goto out;
nomem:
    r = errbuf_set(err, SS_ERR, "out of memory");
out:
    free(text);
    buf_release(&path);
    return r;
}

/*
 * A host without a journal (a dry run keeps none, an unreachable host
 * has none): its steps, state and error as the trail tells them.  A
 * read-only step that ran there is "read", as the journal would say.
 */
static int report_unjournaled(struct report_host *h, bool dry_run)
{
    size_t i;
    const char *st;

    for (i = 0; i < h->n_steps; i++) {
        struct report_step *s = &h->steps[i];
        bool ro = strcmp(s->kind, "read-only") == 0;
        if (ro && (s->trail & REPORT_TRAIL_READ)) {
            st = "read";
            s->at = s->trail_at;
        } else if (!dry_run) {
            continue;
        } else if (ro) {
            st = "not run";
        } else {
            st = (s->trail & REPORT_TRAIL_PROBE) ? "probed, not run (dry run)"
                                                 : "not run (dry run)";
        }
        if (report_set(&s->status, st) < 0)
            return SS_ERR;
    }
    if (h->trail_state != NULL && strcmp(h->state, "pending") == 0 &&
        report_set(&h->state, h->trail_state) < 0)
        return SS_ERR;
    if (h->last_error == NULL && report_set(&h->last_error, h->trail_error) < 0)
        return SS_ERR;
    return 0;
}

/* Loads one host: journal, evidence, findings, queues. */
static int report_load_host(struct report_host *h, bool dry_run,
                            const char *run_dir, const char *trail,
                            size_t trail_len, struct errbuf *err)
{
    struct buf ev = BUF_INIT, rel = BUF_INIT;
    char jpath[4096], *text = NULL;
    size_t len = 0;
    const struct report_step *listing = NULL;
    int r;

    if (journal_path(jpath, sizeof(jpath), run_dir, h->name) < 0)
        return errbuf_set(err, SS_ERR, "host name '%.64s' too long", h->name);
    if ((r = report_read(&text, &len, jpath, JOURNAL_MAX_BYTES, err)) < 0)
        goto out;
    if (text != NULL && (r = report_parse_journal(h, text, len, err)) < 0) {
        errbuf_prefix(err, "journal of '%s'", h->name);
        goto out;
    }
    if (text == NULL && !dry_run &&
        report_push(&h->notes, "no journal: the run never acted on this "
                               "host") < 0)
        goto nomem;
    if (buf_adds(&rel, "evidence/") < 0 || fsname_escape(&rel, h->name) < 0 ||
        buf_printf(&ev, "%s/%s", run_dir, rel.data) < 0)
        goto nomem;
    if ((r = report_evidence(h, ev.data, rel.data, err)) < 0 ||
        (r = report_load_purged(h, ev.data, err)) < 0)
        goto out;
    if (trail != NULL && (r = report_match_trail(h, trail, trail_len, err)) < 0)
        goto out;
    if (!h->journaled && report_unjournaled(h, dry_run) < 0)
        goto nomem;
    /* the mail-down time of the service steps (the start's counts) */
    if ((r = report_step_evidence(h, ev.data, "service", report_parse_service,
                                  "a service step's evidence file is not a "
                                  "JSON object",
                                  err)) < 0 ||
        (r = report_step_evidence(h, ev.data, "verify", report_parse_verify,
                                  "a verify step's evidence file is not the "
                                  "object the step writes",
                                  err)) < 0 ||
        (r = report_load_findings(h, &listing, ev.data, err)) < 0 ||
        (r = report_load_queue(h, listing, ev.data, err)) < 0)
        goto out;
    if (report_host_notes(h) < 0)
        goto nomem;
    r = 0;
    goto out;
nomem:
    r = errbuf_set(err, SS_ERR, "out of memory");
out:
    free(text);
    buf_release(&ev);
    buf_release(&rel);
    return r;
}

/* Verifies the trail against run.json's anchor into the report. */
static int report_audit(struct report *rep, const char *trail, size_t len)
{
    struct audit_verify_result vr;
    struct audit_anchor a;

    memset(&a, 0, sizeof(a));
    a.records = rep->anchor_records;
    memcpy(a.head, rep->anchor_head, sizeof(a.head));
    if (audit_verify_string_anchor(&vr, trail, len,
                                   rep->anchor_records > 0 ? &a : NULL) < 0)
        return report_set(&rep->audit_reason, "the trail could not be read");
    rep->audit_ok = vr.ok;
    rep->audit_records = vr.records;
    memcpy(rep->audit_head, vr.head, sizeof(rep->audit_head));
    if (!vr.ok)
        return report_set(&rep->audit_reason, vr.reason);
    if (rep->anchor_records == 0)
        return report_set(&rep->audit_reason,
                          "no anchor in run.json: a cut tail would not show");
    return 0;
}

/* Reads the run folder; see report.h. */
int report_load(struct report **out, const char *run_dir, struct errbuf *err)
{
    struct report *rep = NULL;
    struct buf path = BUF_INIT;
    char *text = NULL, *trail = NULL;
    size_t len = 0, trail_len = 0, i;
    int r = SS_ERR;

    *out = NULL;
    if ((rep = calloc(1, sizeof(*rep))) == NULL)
        goto nomem;
    report_init(rep);
    rep->generated = (long long)time(NULL);
    if (buf_printf(&path, "%s/run.json", run_dir) < 0)
        goto nomem;
    if ((r = report_read(&text, &len, path.data, 4u << 20, err)) < 0)
        goto out;
    if (text == NULL) {
        r = errbuf_set(err, SS_ENOENT, "no run at '%s'", run_dir);
        goto out;
    }
    if ((r = report_parse_run(rep, text, len, err)) < 0)
        goto out;
    free(text);
    text = NULL;
    buf_reset(&path);
    if (buf_printf(&path, "%s/playbook.json", run_dir) < 0)
        goto nomem;
    if ((r = report_read(&text, &len, path.data, PLAYBOOK_MAX_BYTES, err)) <
            0 ||
        (text != NULL && (r = report_parse_playbook(rep, text, len, err)) < 0))
        goto out;
    buf_reset(&path);
    if (buf_printf(&path, "%s/audit.jsonl", run_dir) < 0)
        goto nomem;
    if ((r = report_read(&trail, &trail_len, path.data, AUDIT_FILE_MAX, err)) <
        0)
        goto out;
    rep->audit_present = trail != NULL;
    if (trail != NULL && report_audit(rep, trail, trail_len) < 0)
        goto nomem;
    for (i = 0; i < rep->n_hosts; i++)
        if ((r = report_load_host(&rep->hosts[i], rep->dry_run, run_dir, trail,
                                  trail_len, err)) < 0)
            goto out;
    *out = rep;
    rep = NULL;
    r = 0;
    goto out;
nomem:
    r = errbuf_set(err, SS_ERR, "out of memory");
out:
    report_free(rep);
    free(text);
    free(trail);
    buf_release(&path);
    return r;
}

/* Frees a loaded report; NULL-safe. */
void report_free(struct report *r)
{
    if (r == NULL)
        return;
    report_release(r);
    free(r);
}
