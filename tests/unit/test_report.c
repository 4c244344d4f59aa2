/* Report: a fixture run folder made by the real writers, in three formats. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "spamstop/audit.h"
#include "spamstop/digest.h"
#include "spamstop/exec.h"
#include "spamstop/fsio.h"
#include "spamstop/journal.h"
#include "spamstop/postfix.h"
#include "spamstop/report.h"

#define RUN_ID   "20261128-100000-abcd"
#define PASSWORD "Sup3r-S3cret-Pa55word"
#define ALICE    "alice@example.com"
#define BOB      "bob@example.com"
#define NSPAM    300
#define NLEGIT   20
#define NSCRIPT  2
/* hostile values from the queue: HTML, Markdown and table breakers */
#define EVIL_HELO "<script>alert(1)</script>"
#define EVIL_SUBJ "Cheap | [pills](javascript:alert(2)) <img src=x onerror=y>"
#define EVIL_PHP  "1000:/var/www/<b>shop</b>/contact.php"

/* The fixture: a run folder in a scratch directory. */
struct fixture {
    char dir[64];
    char run[128];
    long long t0; /* when the snapshot listed the queue */
};

/* Writes text to dir/name. */
static void put(const char *dir, const char *name, const char *text)
{
    char path[512];
    struct errbuf e = ERRBUF_INIT;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    assert_int_equal(fsio_write_atomic(path, text, strlen(text), 0600, &e), 0);
}

/* A short Postfix queue id for message i of a group. */
static void qid(char out[16], char group, size_t i)
{
    snprintf(out, 16, "%c%05zX", group, i);
}

/* The postqueue -j listing the snapshot kept. */
static char *make_listing(long long t0)
{
    struct buf b = BUF_INIT;
    char id[16];
    size_t i;

    for (i = 0; i < NSPAM; i++) {
        qid(id, 'A', i);
        buf_printf(&b,
                   "{\"queue_name\":\"deferred\",\"queue_id\":\"%s\","
                   "\"arrival_time\":%lld,\"message_size\":900,"
                   "\"sender\":\"x%zu@Bulk.Example\",\"recipients\":"
                   "[{\"address\":\"v%zu@victim.example\"}]}\n",
                   id, t0 - 600, i, i);
    }
    for (i = 0; i < NLEGIT; i++) {
        qid(id, 'B', i);
        buf_printf(&b,
                   "{\"queue_name\":\"deferred\",\"queue_id\":\"%s\","
                   "\"arrival_time\":%lld,\"message_size\":900,"
                   "\"sender\":\"" BOB "\",\"recipients\":"
                   "[{\"address\":\"c@customer.example\"}]}\n",
                   id, t0 - 100000);
    }
    for (i = 0; i < NSCRIPT; i++) {
        qid(id, 'C', i);
        buf_printf(&b,
                   "{\"queue_name\":\"hold\",\"queue_id\":\"%s\","
                   "\"arrival_time\":%lld,\"message_size\":900,"
                   "\"sender\":\"\",\"recipients\":"
                   "[{\"address\":\"r@remote.example\"}]}\n",
                   id, t0 - 60);
    }
    return buf_detach(&b);
}

/* identify's findings, made by the real analysis from messages. */
static char *make_findings(long long t0)
{
    static const char *spam_rcpts[] = {"v@victim.example", "w@Other.Example"};
    struct postfix_message *m = calloc(NSPAM + NLEGIT + NSCRIPT, sizeof(*m));
    struct postfix_findings f = POSTFIX_FINDINGS_INIT;
    struct errbuf e = ERRBUF_INIT;
    static char ids[NSPAM + NLEGIT + NSCRIPT][16];
    char *json = NULL;
    size_t i, n = 0;

    assert_non_null(m);
    for (i = 0; i < NSPAM; i++, n++) {
        qid(ids[n], 'A', i);
        m[n].queue_name = "deferred";
        m[n].queue_id = ids[n];
        m[n].sasl_username = ALICE;
        m[n].sender = "x@bulk.example";
        m[n].client_address = i % 3 == 0 ? "198.51.100.9" : "203.0.113.7";
        m[n].helo_name = EVIL_HELO;
        m[n].subject = EVIL_SUBJ;
        m[n].recipients = spam_rcpts;
        m[n].n_recipients = 2;
        m[n].arrival_time = t0 - 600;
        m[n].complete = true;
    }
    for (i = 0; i < NLEGIT; i++, n++) {
        qid(ids[n], 'B', i);
        m[n].queue_name = "deferred";
        m[n].queue_id = ids[n];
        m[n].sasl_username = BOB;
        m[n].sender = BOB;
        m[n].client_address = "192.0.2.10";
        m[n].helo_name = "bobs-laptop";
        m[n].arrival_time = t0 - 100000;
        m[n].complete = true;
    }
    for (i = 0; i < NSCRIPT; i++, n++) {
        qid(ids[n], 'C', i);
        m[n].queue_name = "hold";
        m[n].queue_id = ids[n];
        m[n].sender = "";
        m[n].x_php_script = EVIL_PHP;
        m[n].arrival_time = t0 - 60;
        m[n].complete = true;
    }
    assert_int_equal(postfix_identify(&f, m, n, NULL, &e), 0);
    assert_int_equal(postfix_findings_to_json(&json, &f, &e), 0);
    postfix_findings_release(&f);
    free(m);
    return json;
}

/* Appends one journal record of type t for step (with a name). */
static void jrec(struct journal *j, struct journal_record *rec)
{
    struct errbuf e = ERRBUF_INIT;

    assert_int_equal(journal_append(j, rec, &e), 0);
}

/* The journal of a committed run of the default playbook on host. */
static void make_journal(const char *path, const char *pb_sha, const char *host)
{
    static const char *const names[] = {"survey", "stop",    "identify",
                                        "rotate", "purge",   "start",
                                        "verify", "snapshot"};
    struct strlist found = STRLIST_INIT;
    struct journal_record rec;
    struct journal *j = NULL;
    struct errbuf e = ERRBUF_INIT;
    struct buf pairs = BUF_INIT;
    char id[16];
    int s;
    size_t i;

    assert_int_equal(strlist_push(&found, ALICE), 0);
    assert_int_equal(journal_open(&j, path, &e), 0);
    journal_record_init(&rec, JOURNAL_BEGIN, -1);
    rec.host = host;
    rec.run_id = RUN_ID;
    rec.playbook_sha256 = pb_sha;
    rec.fingerprint = "SHA256:abc";
    jrec(j, &rec);
    buf_adds(&pairs, "{\"pairs\":[");
    for (i = 0; i < NSPAM; i++) {
        qid(id, 'A', i);
        buf_printf(&pairs, "%s[\"%s\",\"" ALICE "\"]", i ? "," : "", id);
    }
    buf_adds(&pairs, "]}");
    for (s = 0; s < 8; s++) {
        if (s == 0 || s == 2 || s == 6) {
            journal_record_init(&rec, JOURNAL_READ, s);
            rec.name = names[s];
            if (s != 6) {
                rec.results = &found;
                rec.register_name = s == 0 ? "seen" : "suspects";
            }
            jrec(j, &rec);
            continue;
        }
        journal_record_init(&rec, JOURNAL_INTENT, s);
        rec.name = names[s];
        rec.kind = s == 3 ? "pivot" : "compensable";
        rec.command = names[s];
        rec.undo_data =
            s == 3 ? "{\"backend\":\"dovecot\",\"recoverable\":true,"
                     "\"passwd_file\":\"/etc/dovecot/users\",\"backup_dir\":"
                     "\"/var/lib/spamstop/x\",\"accounts\":[\"" ALICE "\"]}"
                   : "{}";
        jrec(j, &rec);
        journal_record_init(&rec, JOURNAL_DONE, s);
        rec.name = names[s];
        rec.exit_status = 0;
        if (s == 3) {
            rec.results = &found;
            rec.register_name = "rotated";
        }
        if (s == 4)
            rec.commit_data = pairs.data;
        jrec(j, &rec);
    }
    journal_record_init(&rec, JOURNAL_COMMIT, -1);
    jrec(j, &rec);
    journal_record_init(&rec, JOURNAL_COMMIT_INTENT, 4);
    rec.name = "purge";
    jrec(j, &rec);
    journal_record_init(&rec, JOURNAL_COMMIT_DONE, 4);
    rec.name = "purge";
    rec.exit_status = 0;
    jrec(j, &rec);
    journal_record_init(&rec, JOURNAL_END, -1);
    rec.state = "committed";
    rec.phase = "commit";
    jrec(j, &rec);
    journal_close(j);
    buf_release(&pairs);
    strlist_release(&found);
}

/* The trail: the fetch of queue.json recorded with its digest. */
static void make_trail(const char *path, const char *listing,
                       struct audit_anchor *anchor)
{
    struct audit_record rec = AUDIT_RECORD_INIT;
    struct exec_result res;
    struct errbuf e = ERRBUF_INIT;
    struct sha256_ctx c;
    struct audit *a = NULL;

    exec_result_init(&res);
    assert_int_equal(audit_open(&a, path, RUN_ID, &e), 0);
    rec.event = "run-start";
    assert_int_equal(audit_append(a, &rec, &e), 0);
    assert_int_equal(sha256_begin(&c), 0);
    sha256_update(&c, listing, strlen(listing));
    assert_int_equal(sha256_end(&c, res.out_sha256), 0);
    res.out_bytes = strlen(listing);
    res.exit_status = 0;
    rec.event = "command";
    rec.host = "h1";
    rec.step = "snapshot";
    rec.phase = "apply";
    rec.command = "exec cat -- /var/lib/spamstop/x/queue.json";
    rec.result = &res;
    assert_int_equal(audit_append(a, &rec, &e), 0);
    audit_get_anchor(a, anchor);
    audit_close(a);
    exec_result_release(&res);
}

/* The run folders the tests read. */
enum fixture_kind {
    FX_COMMITTED, /* h1 committed (alice), h2 unreachable */
    FX_DRY,       /* the same queue on h1, a dry run; h2 unreachable */
    FX_FLEET,     /* alice flagged and rotated on h1 and h2 */
};

/* Writes run.json for the kind of run. */
static void make_run_json(const struct fixture *fx, const char *sha,
                          const struct audit_anchor *anchor,
                          enum fixture_kind kind)
{
    bool dry = kind == FX_DRY;
    char started[32], finished[32], text[2048];
    time_t t;
    struct tm tm;

    t = (time_t)fx->t0 - 120;
    gmtime_r(&t, &tm);
    strftime(started, sizeof(started), "%Y-%m-%dT%H:%M:%SZ", &tm);
    t = (time_t)fx->t0 + 5;
    gmtime_r(&t, &tm);
    strftime(finished, sizeof(finished), "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(text, sizeof(text),
             "{\"run_id\":\"" RUN_ID "\",\"started\":\"%s\",\"finished\":"
             "\"%s\",\"playbook\":\"compromised-account\","
             "\"playbook_sha256\":\"%s\",\"hosts\":[\"h1\",\"h2\"],"
             "\"dry_run\":%s,\"outcome\":\"%s\",\"host_states\":"
             "{\"h1\":\"%s\",\"h2\":\"%s\"},\"params\":"
             "{\"min_messages\":\"50\",\"min_share\":\"0.2\"},"
             "\"audit_records\":%llu,\"audit_head\":\"%s\"}",
             started, finished, sha, dry ? "true" : "false",
             dry ? "dry-run" : "partial", dry ? "pending" : "committed",
             kind == FX_FLEET ? "committed" : "unreachable",
             (unsigned long long)anchor->records, anchor->head);
    put(fx->run, "run.json", text);
}

/* Appends one trail record of h1 (event, step, phase, detail). */
static void trail_rec(struct audit *a, const char *event, const char *step,
                      const char *phase, const char *detail)
{
    struct audit_record rec = AUDIT_RECORD_INIT;
    struct errbuf e = ERRBUF_INIT;

    rec.event = event;
    rec.host = "h1";
    rec.step = step;
    rec.phase = phase;
    rec.detail = detail;
    if (strcmp(event, "command") == 0)
        rec.command = "true";
    assert_int_equal(audit_append(a, &rec, &e), 0);
}

/*
 * The trail of a dry run as the engine writes it: the read-only passes'
 * commands and results, the probes of the steps that would change the
 * host, and h1's end.
 */
static void make_dry_trail(const char *path, struct audit_anchor *anchor)
{
    struct audit *a = NULL;
    struct errbuf e = ERRBUF_INIT;

    assert_int_equal(audit_open(&a, path, RUN_ID, &e), 0);
    trail_rec(a, "command", "survey", "read", NULL);
    trail_rec(a, "result", "survey", NULL, "seen: " ALICE);
    trail_rec(a, "command", "stop", "probe", NULL);
    trail_rec(a, "command", "identify", "read", NULL);
    trail_rec(a, "evidence", "identify", "read", "evidence/h1/suspects.json");
    trail_rec(a, "command", "rotate", "probe", NULL);
    trail_rec(a, "host-end", NULL, NULL, "dry-run");
    audit_get_anchor(a, anchor);
    audit_close(a);
}

/* Builds the whole run folder of a kind. */
static int setup_run(void **state, enum fixture_kind kind)
{
    bool dry = kind == FX_DRY;
    struct fixture *fx = calloc(1, sizeof(*fx));
    struct errbuf e = ERRBUF_INIT;
    struct audit_anchor anchor;
    char path[512], sha[SHA256_HEX_LEN + 1], *pb = NULL, *listing, *findings;
    size_t pblen = 0;

    assert_non_null(fx);
    strcpy(fx->dir, "/tmp/ss-report-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->run, sizeof(fx->run), "%s/runs/" RUN_ID, fx->dir);
    snprintf(path, sizeof(path), "%s/journal", fx->run);
    assert_int_equal(fsio_mkdirs(path, 0700, &e), 0);
    snprintf(path, sizeof(path), "%s/evidence/h1", fx->run);
    assert_int_equal(fsio_mkdirs(path, 0700, &e), 0);
    fx->t0 = (long long)time(NULL);

    assert_int_equal(fsio_read_file(&pb, &pblen,
                                    PLAYBOOK_DIR "/compromised-account.json",
                                    1 << 20, &e),
                     0);
    put(fx->run, "playbook.json", pb);
    assert_int_equal(sha256_hex(sha, pb, pblen), 0);
    free(pb);

    listing = make_listing(fx->t0);
    findings = make_findings(fx->t0);
    put(fx->run,
        dry ? "evidence/h1/suspects.queue.json" : "evidence/h1/queue.json",
        listing);
    put(fx->run, "evidence/h1/suspects.json", findings);
    put(fx->run, "evidence/h1/seen.json", findings);
    put(fx->run, "evidence/h1/suspects.ids", "deferred A00000 " ALICE "\n");
    snprintf(path, sizeof(path), "%s/audit.jsonl", fx->run);
    if (dry) {
        make_dry_trail(path, &anchor);
    } else {
        make_trail(path, listing, &anchor);
        snprintf(path, sizeof(path), "%s/journal/h1.jsonl", fx->run);
        make_journal(path, sha, "h1");
        /* what the report must never show */
        put(fx->run, "credentials", "h1 " ALICE " " PASSWORD "\n");
    }
    if (kind == FX_FLEET) {
        snprintf(path, sizeof(path), "%s/evidence/h2", fx->run);
        assert_int_equal(fsio_mkdirs(path, 0700, &e), 0);
        put(fx->run, "evidence/h2/suspects.json", findings);
        snprintf(path, sizeof(path), "%s/journal/h2.jsonl", fx->run);
        make_journal(path, sha, "h2");
    }
    make_run_json(fx, sha, &anchor, kind);
    free(listing);
    free(findings);
    *state = fx;
    return 0;
}

static int setup(void **state)
{
    return setup_run(state, FX_COMMITTED);
}

static int setup_dry(void **state)
{
    return setup_run(state, FX_DRY);
}

static int setup_fleet(void **state)
{
    return setup_run(state, FX_FLEET);
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
    if (getenv("REPORT_KEEP_FIXTURE") == NULL)
        assert_int_equal(system(cmd), 0);
    else
        fprintf(stderr, "fixture kept: %s\n", fx->dir);
    free(fx);
    return 0;
}

/* Loads the fixture run. */
static struct report *load(struct fixture *fx)
{
    struct report *r = NULL;
    struct errbuf e = ERRBUF_INIT;

    if (report_load(&r, fx->run, &e) < 0)
        fail_msg("report_load: %s", e.msg);
    return r;
}

/* Renders r in f with flags (caller frees). */
static char *render_flags(const struct report *r, enum report_format f,
                          unsigned flags)
{
    struct buf b = BUF_INIT;
    struct errbuf e = ERRBUF_INIT;

    if (report_render(&b, r, f, flags, &e) < 0)
        fail_msg("report_render: %s", e.msg);
    return buf_detach(&b);
}

/* Renders r in f as a NUL-terminated string (caller frees). */
static char *render(const struct report *r, enum report_format f)
{
    return render_flags(r, f, 0);
}

static void test_model_numbers(void **state)
{
    struct fixture *fx = *state;
    struct report *r = load(fx);
    const struct report_host *h;

    assert_string_equal(r->run_id, RUN_ID);
    assert_int_equal(r->n_hosts, 2);
    assert_true(r->audit_present);
    assert_true(r->audit_ok);
    assert_int_equal(r->audit_records, 2);
    h = &r->hosts[0];
    assert_string_equal(h->name, "h1");
    assert_string_equal(h->state, "committed");
    assert_string_equal(h->end_state, "committed");
    assert_int_equal(h->n_steps, 8);
    assert_string_equal(h->steps[4].status, "done");
    assert_string_equal(h->steps[4].commit, "committed");
    /* queue before, by queue */
    assert_true(h->before.present);
    assert_int_equal(h->before.total, NSPAM + NLEGIT + NSCRIPT);
    assert_int_equal(h->before.counts[3], NSPAM + NLEGIT); /* deferred */
    assert_int_equal(h->before.counts[4], NSCRIPT);        /* hold */
    /* qshape: spam 10 minutes old, legit 1666, scripts 1 */
    assert_int_equal(h->before.ages[2], NSPAM);
    assert_int_equal(h->before.ages[9], NLEGIT);
    assert_int_equal(h->before.ages[0], NSCRIPT);
    assert_int_equal(h->before.n_rows, 3);
    assert_string_equal(h->before.rows[0].domain, "bulk.example");
    assert_int_equal(h->before.rows[0].total, NSPAM);
    assert_string_equal(h->before.rows[2].domain, "<>");
    /* after: the spam deleted at commit */
    assert_true(h->after.present);
    assert_true(h->after.derived);
    assert_int_equal(h->after.total, NLEGIT + NSCRIPT);
    assert_int_equal(h->after.counts[3], NLEGIT);
    assert_int_equal(h->after.counts[4], NSCRIPT);
    /* suspects */
    assert_true(h->findings.present);
    assert_string_equal(h->findings.step, "identify");
    assert_int_equal(h->findings.total, NSPAM + NLEGIT + NSCRIPT);
    assert_int_equal(h->findings.n_suspects, 2);
    assert_string_equal(h->findings.suspects[0].username, ALICE);
    assert_true(h->findings.suspects[0].flagged);
    assert_int_equal(h->findings.suspects[0].messages, NSPAM);
    assert_int_equal(h->findings.suspects[0].clients.distinct, 2);
    assert_string_equal(h->findings.suspects[0].clients.v[0].value,
                        "203.0.113.7");
    assert_int_equal(h->findings.suspects[0].clients.v[0].count, 200);
    assert_false(h->findings.suspects[1].flagged);
    assert_int_equal(h->findings.n_scripts, 1);
    assert_int_equal(h->findings.scripts[0].messages, NSCRIPT);
    /* changes */
    assert_int_equal(h->rotated.n, 1);
    assert_string_equal(h->rotated.v[0], ALICE);
    assert_string_equal(h->backend, "dovecot");
    assert_string_equal(h->purge_fate, "deleted");
    assert_int_equal(h->purged_total, NSPAM);
    assert_int_equal(h->purged_accounts.n, 1);
    assert_int_equal(h->purged_counts[0], NSPAM);
    /* evidence: four files; only the fetched listing is in the trail */
    assert_int_equal(h->n_files, 4);
    assert_string_equal(h->files[0].path, "evidence/h1/queue.json");
    assert_true(h->files[0].in_trail);
    assert_false(h->files[1].in_trail);
    /* h2 never ran */
    assert_false(r->hosts[1].journaled);
    assert_string_equal(r->hosts[1].state, "unreachable");
    assert_true(r->hosts[1].notes.n >= 1);
    report_free(r);
}

/*
 * The queue before comes from the listing the last identify pass kept
 * (suspects.queue.json) when there is one; queue.json, what runs before
 * it kept, only otherwise.
 */
static void test_listing_of_the_identify_pass(void **state)
{
    struct fixture *fx = *state;
    char *listing = make_listing(fx->t0), *p = listing;
    struct report *r;
    char *text;
    int i;

    /* an older run folder: the snapshot's postqueue -j, and the note says so */
    r = load(fx);
    assert_true(r->hosts[0].before.from_snapshot);
    text = render(r, REPORT_MD);
    assert_non_null(strstr(text, "the postqueue -j listing of the snapshot"));
    free(text);
    report_free(r);
    for (i = 0; i < 3; i++)
        p = strchr(p, '\n') + 1;
    *p = '\0';
    put(fx->run, "evidence/h1/suspects.queue.json", listing);
    free(listing);
    r = load(fx);
    assert_true(r->hosts[0].before.present);
    assert_false(r->hosts[0].before.from_snapshot);
    assert_int_equal(r->hosts[0].before.total, 3);
    text = render(r, REPORT_MD);
    assert_non_null(strstr(text, "the queue as the last identify pass read"));
    assert_null(strstr(text, "postqueue -j listing of the snapshot"));
    free(text);
    report_free(r);
}

static void test_no_password_anywhere(void **state)
{
    struct fixture *fx = *state;
    struct report *r = load(fx);
    enum report_format f;
    char *text;

    for (f = REPORT_MD; f <= REPORT_TEXT; f++) {
        text = render(r, f);
        assert_null(strstr(text, PASSWORD));
        assert_null(strstr(text, "Sup3r"));
        /* the notice is there, and tells how to get the password */
        assert_non_null(strstr(text, "How to get your new password"));
        free(text);
    }
    report_free(r);
}

/* True when every tag in html is one the renderer writes itself. */
static bool only_known_tags(const char *html)
{
    static const char *const known[] = {"!DOCTYPE html>",
                                        "html",
                                        "head>",
                                        "meta ",
                                        "title>",
                                        "style>",
                                        "body>",
                                        "h1>",
                                        "h2>",
                                        "h3>",
                                        "h4>",
                                        "p>",
                                        "p class=",
                                        "ul>",
                                        "li>",
                                        "b>",
                                        "table>",
                                        "tr>",
                                        "th>",
                                        "td>",
                                        "td class=\"n\">",
                                        "pre class=\"notice\">",
                                        "pre>"};
    const char *p;
    size_t i;

    for (p = html; (p = strchr(p, '<')) != NULL; p++) {
        const char *t = p[1] == '/' ? p + 2 : p + 1;
        for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
            if (strncmp(t, known[i], strlen(known[i])) == 0)
                break;
        if (i == sizeof(known) / sizeof(known[0])) {
            fprintf(stderr, "unknown tag at: %.40s\n", p);
            return false;
        }
    }
    return true;
}

static void test_html_escaped_and_self_contained(void **state)
{
    struct fixture *fx = *state;
    struct report *r = load(fx);
    char *html = render(r, REPORT_HTML);

    assert_true(strncmp(html, "<!DOCTYPE html>", 15) == 0);
    assert_non_null(strstr(html, "</html>\n"));
    /* hostile values are text, never markup */
    assert_null(strstr(html, "<script"));
    assert_null(strstr(html, "<img"));
    assert_null(strstr(html, "<b>shop"));
    assert_non_null(strstr(html, "&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert_non_null(strstr(html, "&lt;img src=x onerror=y&gt;"));
    /* only our own tags, none that fetches anything */
    assert_true(only_known_tags(html));
    assert_null(strstr(html, "http://"));
    assert_null(strstr(html, "https://"));
    assert_non_null(strstr(html, "default-src 'none'"));
    /* the numbers */
    assert_non_null(strstr(html, "<td>deferred</td><td class=\"n\">320</td>"
                                 "<td class=\"n\">20</td>"));
    report_free(r);
    free(html);
}

static void test_markdown_escaped(void **state)
{
    struct fixture *fx = *state;
    struct report *r = load(fx);
    char *md = render(r, REPORT_MD);
    const char *p;

    /* no '<' that Markdown could read as HTML */
    for (p = md; (p = strchr(p, '<')) != NULL; p++)
        assert_true(p > md && p[-1] == '\\');
    assert_non_null(strstr(md, "\\<script\\>"));
    assert_null(strstr(md, "[pills](javascript"));
    assert_non_null(strstr(md, "\\[pills\\](javascript"));
    /* every '|' of a remote value is escaped: rows keep their cells */
    for (p = md; (p = strstr(p, "Cheap ")) != NULL; p++)
        assert_true(strncmp(p, "Cheap \\| ", 9) == 0);
    assert_non_null(strstr(md, "| deferred | 320 | 20 |"));
    assert_non_null(strstr(md, "~~~~text\nSubject: Security notice"));
    report_free(r);
    free(md);
}

static void test_json_machine_readable(void **state)
{
    struct fixture *fx = *state;
    struct report *r = load(fx);
    char *text = render(r, REPORT_JSON);
    json_t *o = json_loads(text, 0, NULL), *h, *n;

    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "run_id")),
                        RUN_ID);
    assert_true(
        json_is_true(json_object_get(json_object_get(o, "audit"), "ok")));
    h = json_array_get(json_object_get(o, "hosts"), 0);
    assert_int_equal(
        json_integer_value(json_object_get(
            json_object_get(json_object_get(h, "queue_before"), "counts"),
            "deferred")),
        NSPAM + NLEGIT);
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(h, "queue_after"), "total")),
                     NLEGIT + NSCRIPT);
    assert_int_equal(
        json_integer_value(json_object_get(
            json_object_get(json_object_get(h, "purge"), "by_account"), ALICE)),
        NSPAM);
    assert_null(json_object_get(h, "notices"));
    assert_int_equal(json_array_size(json_object_get(o, "notices")), 1);
    n = json_array_get(json_object_get(o, "notices"), 0);
    assert_string_equal(json_string_value(json_object_get(n, "account")),
                        ALICE);
    assert_non_null(
        strstr(json_string_value(json_object_get(n, "text")), "300"));
    json_decref(o);
    free(text);
    report_free(r);
}

static void test_tampered_trail(void **state)
{
    struct fixture *fx = *state;
    struct report *r;
    char path[512], *t = NULL;
    size_t len = 0;
    struct errbuf e = ERRBUF_INIT;
    char *md;

    snprintf(path, sizeof(path), "%s/audit.jsonl", fx->run);
    assert_int_equal(fsio_read_file(&t, &len, path, 1 << 20, &e), 0);
    t[strstr(t, "snapshot") - t] = 'S';
    assert_int_equal(fsio_write_atomic(path, t, len, 0600, &e), 0);
    r = load(fx);
    assert_false(r->audit_ok);
    assert_non_null(r->audit_reason);
    md = render(r, REPORT_MD);
    assert_non_null(strstr(md, "ALTERED"));
    free(md);
    free(t);
    report_free(r);
}

static void test_corrupt_journal_refused(void **state)
{
    struct fixture *fx = *state;
    struct report *r = NULL;
    struct errbuf e = ERRBUF_INIT;
    char path[512];

    snprintf(path, sizeof(path), "%s/journal/h2.jsonl", fx->run);
    put(fx->run, "journal/h2.jsonl", "{\"seq\":1,\"type\":\"done\"}\n");
    assert_int_equal(report_load(&r, fx->run, &e), SS_ECORRUPT);
    assert_null(r);
    assert_non_null(strstr(e.msg, "h2"));
    unlink(path);
}

static void test_missing_run(void **state)
{
    struct report *r = NULL;
    struct errbuf e = ERRBUF_INIT;

    (void)state;
    assert_int_equal(report_load(&r, "/nonexistent/runs/x", &e), SS_ENOENT);
    assert_null(r);
}

static void test_clean(void **state)
{
    char big[REPORT_VALUE_MAX + 100], *c;

    (void)state;
    c = report_clean("a\nb\x1b[31mc\x7f");
    assert_string_equal(c, "a?b?[31mc?");
    free(c);
    /* invalid UTF-8, an overlong form, a C1 control; valid text kept */
    c = report_clean("\xff\xc0\xaf\xc2\x85 caf\xc3\xa9 \xe2\x82");
    assert_string_equal(c, "????? caf\xc3\xa9 ??");
    free(c);
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    big[REPORT_VALUE_MAX - 1] = '\xc3'; /* a character across the cut */
    big[REPORT_VALUE_MAX] = '\xa9';
    c = report_clean(big);
    assert_int_equal(strlen(c), REPORT_VALUE_MAX - 1);
    free(c);
}

static void test_queue_ages_and_other_row(void **state)
{
    struct report_queue q;
    struct errbuf e = ERRBUF_INIT;
    struct buf b = BUF_INIT;
    size_t i;

    (void)state;
    /* 12 domains: the 10 largest get rows, the 2 smallest one row */
    for (i = 0; i < 12; i++)
        buf_printf(&b,
                   "{\"queue_name\":\"active\",\"queue_id\":\"D%04zX\","
                   "\"arrival_time\":%zu,\"sender\":\"a@d%02zu.example\"}\n",
                   i, 100000 - i * 60 * 100, i);
    buf_adds(&b, "not json\n");
    memset(&q, 0, sizeof(q));
    assert_int_equal(report_parse_queue(&q, b.data, b.len, 100000, &e), 0);
    assert_int_equal(q.total, 12);
    assert_int_equal(q.malformed, 1);
    assert_int_equal(q.counts[2], 12);
    assert_int_equal(q.n_rows, REPORT_SHAPE_MAX + 1);
    assert_string_equal(q.rows[REPORT_SHAPE_MAX].domain, "(other domains)");
    assert_int_equal(q.rows[REPORT_SHAPE_MAX].total, 2);
    /* ages 0, 100, 200, ... 1100 minutes */
    assert_int_equal(q.ages[0], 1); /* 0 */
    assert_int_equal(q.ages[5], 1); /* 100 < 160 */
    assert_int_equal(q.ages[6], 2); /* 200, 300 */
    assert_int_equal(q.ages[7], 3); /* 400, 500, 600 */
    assert_int_equal(q.ages[8], 5); /* 700 ... 1100 */
    for (i = 0; i < q.n_rows; i++)
        free(q.rows[i].domain);
    free(q.rows);
    buf_release(&b);
}

static void test_format_parse(void **state)
{
    enum report_format f;

    (void)state;
    assert_int_equal(report_format_parse(&f, "html"), 0);
    assert_int_equal(f, REPORT_HTML);
    assert_int_equal(report_format_parse(&f, "text"), 0);
    assert_int_equal(f, REPORT_TEXT);
    assert_int_equal(report_format_parse(&f, "markdown"), 0);
    assert_int_equal(f, REPORT_MD);
    assert_int_equal(report_format_parse(&f, "pdf"), SS_EINVAL);
}

/*
 * The mail-down time: the start step's evidence (the service action's
 * mail_down_ms) per host in the model, the Markdown and HTML summary and
 * changes, and the JSON; a hostile value is not shown, a note says so.
 */
static void test_mail_down_time(void **state)
{
    static const char *const hostile[] = {
        "{\"mail_down_ms\":-5}",
        "{\"mail_down_ms\":99999999999999}",
        "{\"mail_down_ms\":\"930\"}",
        "{\"mail_down_ms\":930.5}",
        "[930]",
    };
    struct fixture *fx = *state;
    struct report *r = load(fx);
    const struct report_host *h = &r->hosts[0];
    char *text;
    json_t *o, *jh;
    size_t i;

    /* no evidence: unknown, "-" in the summary, null in JSON */
    assert_false(h->mail_down_known);
    text = render(r, REPORT_MD);
    assert_non_null(strstr(text, "| Mail down |"));
    assert_null(strstr(text, "Postfix was down for"));
    free(text);
    report_free(r);
    put(fx->run, "evidence/h1/start.evidence.json",
        "{\"state\":\"started\",\"service\":\"postfix\",\"timer\":"
        "\"spamstop-restart-" RUN_ID "\",\"mail_down_ms\":930,"
        "\"restarted_by\":\"start\"}");
    r = load(fx);
    h = &r->hosts[0];
    assert_true(h->mail_down_known);
    assert_int_equal(h->mail_down_ms, 930);
    assert_false(h->mail_down_by_timer);
    assert_false(r->hosts[1].mail_down_known);
    text = render(r, REPORT_MD);
    assert_non_null(strstr(text, "| 0.93 s |"));
    assert_non_null(strstr(text, "Postfix was down for 0.93 s (stop to start, "
                                 "taken on the host)."));
    free(text);
    text = render(r, REPORT_HTML);
    assert_non_null(strstr(text, "<th>Mail down</th>"));
    assert_non_null(strstr(text, "<td>0.93 s</td>"));
    free(text);
    text = render(r, REPORT_JSON);
    o = json_loads(text, 0, NULL);
    assert_non_null(o);
    jh = json_array_get(json_object_get(o, "hosts"), 0);
    assert_int_equal(json_integer_value(json_object_get(jh, "mail_down_ms")),
                     930);
    assert_true(json_is_false(json_object_get(jh, "mail_down_by_timer")));
    jh = json_array_get(json_object_get(o, "hosts"), 1);
    assert_true(json_is_null(json_object_get(jh, "mail_down_ms")));
    json_decref(o);
    free(text);
    report_free(r);
    /* the restart timer started Postfix before the run did */
    put(fx->run, "evidence/h1/start.evidence.json",
        "{\"mail_down_ms\":600123,\"restarted_by\":\"timer\"}");
    r = load(fx);
    assert_true(r->hosts[0].mail_down_by_timer);
    text = render(r, REPORT_MD);
    assert_non_null(strstr(text, "| 600.12 s (timer) |"));
    assert_non_null(strstr(text, "the restart timer started it again"));
    free(text);
    report_free(r);
    /* hostile or broken evidence: not believed, and said */
    for (i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
        put(fx->run, "evidence/h1/start.evidence.json", hostile[i]);
        r = load(fx);
        h = &r->hosts[0];
        assert_false(h->mail_down_known);
        text = render(r, REPORT_MD);
        assert_null(strstr(text, "Postfix was down for"));
        assert_non_null(strstr(text, "service step's evidence"));
        free(text);
        report_free(r);
    }
}

/*
 * A dry run keeps no journal: the report takes what ran from the trail
 * and the findings from the evidence folder, and shows what was looked
 * at and what a real run would do, never "nothing was looked at".
 */
static void test_dry_run(void **state)
{
    struct fixture *fx = *state;
    struct report *r = load(fx);
    const struct report_host *h = &r->hosts[0];
    enum report_format f;
    char *text;

    assert_true(r->dry_run);
    assert_false(h->journaled);
    assert_string_equal(h->state, "dry-run"); /* from the trail's host-end */
    assert_string_equal(h->steps[0].status, "read");
    assert_string_equal(h->steps[1].status, "probed, not run (dry run)");
    assert_string_equal(h->steps[2].status, "read");
    assert_string_equal(h->steps[4].status, "not run (dry run)");
    assert_true(h->findings.present);
    assert_string_equal(h->findings.step, "identify");
    assert_true(h->before.present);
    assert_false(h->before.from_snapshot);
    assert_int_equal(h->before.total, NSPAM + NLEGIT + NSCRIPT);
    assert_int_equal(h->rotated.n, 0);
    for (f = REPORT_MD; f <= REPORT_TEXT; f++) {
        text = render(r, f);
        assert_null(strstr(text, "nothing on this host was looked at"));
        assert_null(strstr(text, "No identify findings"));
        assert_null(strstr(text, "not started"));
        assert_null(strstr(text, "Security notice"));
        if (f == REPORT_HTML)
            assert_true(only_known_tags(text));
        if (f != REPORT_JSON) {
            assert_non_null(strstr(text, "What a real run would do"));
            assert_non_null(strstr(text, "What was looked at"));
            assert_non_null(
                strstr(text, "Set a new password for alice@example.com"));
            assert_non_null(strstr(text, "Hold 300 queued messages"));
            assert_non_null(strstr(text, "Nothing: this was a dry run."));
        }
        free(text);
    }
    report_free(r);
}

/* How many times needle occurs in hay. */
static size_t count_of(const char *hay, const char *needle)
{
    size_t n = 0;

    for (; (hay = strstr(hay, needle)) != NULL; hay++)
        n++;
    return n;
}

/*
 * One notice per account across hosts, true to what happened: the
 * pause and how long, mail delayed not lost, no host names unless asked,
 * one time when the first and last message share it.
 */
static void test_notices(void **state)
{
    struct fixture *fx = *state;
    struct report *r = load(fx);
    struct buf t = BUF_INIT;
    json_t *o, *n;
    char *text, when[40];
    enum report_format f;
    struct tm tm;
    time_t tt;

    assert_int_equal(r->hosts[1].rotated.n, 1);
    for (f = REPORT_MD; f <= REPORT_TEXT; f++) {
        text = render(r, f);
        assert_int_equal(count_of(text, "Subject: Security notice: the "
                                        "password of " ALICE),
                         1);
        assert_null(strstr(text, "not affected"));
        free(text);
    }
    assert_int_equal(report_notice(&t, r, ALICE, 0), 0);
    assert_null(strstr(t.data, "h1"));
    assert_null(strstr(t.data, "h2"));
    assert_null(strstr(t.data, "Between"));
    /* the one time, whole on its line */
    tt = (time_t)(fx->t0 - 600);
    gmtime_r(&tt, &tm);
    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
    assert_int_equal(count_of(t.data, when), 1);
    assert_non_null(strstr(t.data, "600 messages were handed to our servers"));
    assert_non_null(strstr(t.data, "We deleted the 600 spam messages"));
    assert_non_null(strstr(t.data, "delayed, not lost"));
    buf_reset(&t);
    assert_int_equal(report_notice(&t, r, ALICE, REPORT_NOTICE_HOSTS), 0);
    assert_non_null(strstr(t.data, "our mail servers h1 and h2."));
    buf_release(&t);
    text = render_flags(r, REPORT_JSON, REPORT_NOTICE_HOSTS);
    o = json_loads(text, 0, NULL);
    assert_int_equal(json_array_size(json_object_get(o, "notices")), 1);
    n = json_array_get(json_object_get(o, "notices"), 0);
    assert_int_equal(json_array_size(json_object_get(n, "hosts")), 2);
    assert_non_null(
        strstr(json_string_value(json_object_get(n, "text")), "h1 and h2"));
    json_decref(o);
    free(text);
    report_free(r);
}

/* Plain text for ticket systems: no markup, no escapes, aligned tables. */
static void test_text_format(void **state)
{
    struct fixture *fx = *state;
    struct report *r = load(fx);
    char *text = render(r, REPORT_TEXT);
    const char *p;

    assert_null(strstr(text, "\\"));
    assert_null(strstr(text, "**"));
    assert_null(strstr(text, "~~~~text"));
    assert_null(strstr(text, "<p"));
    assert_non_null(strstr(text, "min_messages=50"));
    assert_non_null(strstr(text, EVIL_HELO)); /* as it is: text is inert */
    assert_non_null(strstr(text, "\nSummary\n-------\n"));
    assert_non_null(strstr(text, "Queue     Before  After\n"
                                 "--------  ------  -----\n"
                                 "maildrop       0      0\n"));
    assert_non_null(strstr(text, "deferred     320     20\n"));
    /* no line ends in a space */
    for (p = text; (p = strchr(p, '\n')) != NULL; p++)
        assert_true(p == text || p[-1] != ' ');
    free(text);
    report_free(r);
}

/*
 * The damage per account, every host together (queue and log evidence),
 * and the values flagged accounts share across hosts, in every format.
 */
static void test_damage_and_fleet(void **state)
{
    struct fixture *fx = *state;
    struct report *r;
    char path[512], *text = NULL, *p, log[512];
    size_t len = 0;
    struct errbuf e = ERRBUF_INIT;
    struct buf b = BUF_INIT;
    json_t *o, *a, *fl;
    size_t i, ips = 0;

    /* h2's logs: 500 submitted, 150 already left, 50 bounced */
    snprintf(path, sizeof(path), "%s/evidence/h2/suspects.json", fx->run);
    assert_int_equal(fsio_read_file(&text, &len, path, 1 << 24, &e), 0);
    p = strstr(text, "\"log\":null");
    assert_non_null(p);
    snprintf(log, sizeof(log),
             "\"log\":{\"messages\":500,\"clients\":40,\"top_client\":"
             "\"198.51.100.9\",\"top_client_messages\":90,\"first\":%lld,"
             "\"last\":%lld,\"sent\":150,\"deferred\":300,\"bounced\":50}",
             fx->t0 - 3600, fx->t0 - 60);
    buf_add(&b, text, (size_t)(p - text));
    buf_adds(&b, log);
    buf_adds(&b, p + strlen("\"log\":null"));
    put(fx->run, "evidence/h2/suspects.json", b.data);
    buf_release(&b);
    free(text);
    r = load(fx);
    text = render(r, REPORT_JSON);
    o = json_loads(text, 0, NULL);
    assert_non_null(o);
    a = json_array_get(json_object_get(o, "accounts"), 0);
    assert_int_equal(json_array_size(json_object_get(o, "accounts")), 1);
    assert_int_equal(json_integer_value(json_object_get(a, "submitted")),
                     NSPAM + 500);
    assert_int_equal(json_integer_value(json_object_get(a, "sent")), 150);
    assert_int_equal(json_integer_value(json_object_get(a, "bounced")), 50);
    assert_int_equal(json_integer_value(json_object_get(a, "held")), 2 * NSPAM);
    assert_int_equal(json_integer_value(json_object_get(a, "first")),
                     fx->t0 - 3600);
    assert_int_equal(json_integer_value(json_object_get(a, "last")),
                     fx->t0 - 60);
    assert_int_equal(json_integer_value(json_object_get(a, "clients_at_least")),
                     40);
    assert_string_equal(
        json_string_value(json_object_get(
            json_array_get(
                json_object_get(json_object_get(a, "recipient_domains"), "top"),
                0),
            "value")),
        "other.example");
    fl = json_object_get(o, "fleet");
    for (i = 0; i < json_array_size(fl); i++) {
        json_t *x = json_array_get(fl, i);
        if (strcmp(json_string_value(json_object_get(x, "kind")),
                   "client IP") == 0) {
            ips++;
            assert_int_equal(json_array_size(json_object_get(x, "seen")), 2);
        }
    }
    assert_int_equal(ips, 2);
    json_decref(o);
    free(text);
    text = render(r, REPORT_MD);
    assert_non_null(strstr(text, "## Damage per account"));
    assert_non_null(strstr(text, "| alice@example.com | h1, h2 | 800 | 150 | "
                                 "300 | 50 | 600 | 600 deleted |"));
    assert_non_null(strstr(text, "203.0.113.7 (client IP) sent for "
                                 "alice@example.com on h1 (200) and for "
                                 "alice@example.com on h2 (200)"));
    free(text);
    text = render(r, REPORT_HTML);
    assert_true(only_known_tags(text));
    assert_non_null(strstr(text, "<h2>Damage per account</h2>"));
    free(text);
    text = render(r, REPORT_TEXT);
    assert_non_null(strstr(text, "\nAcross hosts\n------------\n"));
    assert_non_null(strstr(text, "- 198.51.100.9 (client IP) sent for"));
    free(text);
    report_free(r);
}

/*
 * The verify step's evidence: per account whether the new password is the
 * one in force and what the watch saw, in Markdown and JSON; a refused
 * one is said; a file that is not the step's object gets a note.
 */
static void test_verify_checks(void **state)
{
    struct fixture *fx = *state;
    struct report *r;
    char *text;
    json_t *o, *c;

    put(fx->run, "evidence/h1/verify.evidence.json",
        "{\"accounts\":[{\"account\":\"" ALICE "\",\"password\":\"confirmed\","
        "\"via\":\"doveadm auth test\",\"why\":\"\",\"since\":1796458808,"
        "\"watched_s\":60,\"logins\":0}],\"log_sources\":[\"/var/log/"
        "mail.log\"],\"watch_s\":60}");
    r = load(fx);
    assert_int_equal(r->hosts[0].n_checks, 1);
    text = render(r, REPORT_MD);
    assert_non_null(strstr(text, "new password confirmed through the host's "
                                 "own authentication (doveadm auth test)."));
    assert_non_null(strstr(text, "No login of " ALICE " since 08:20:08 UTC "
                                 "on 2026-12-05, watched 60 s."));
    free(text);
    text = render(r, REPORT_JSON);
    o = json_loads(text, 0, NULL);
    c = json_array_get(
        json_object_get(json_array_get(json_object_get(o, "hosts"), 0),
                        "checks"),
        0);
    assert_string_equal(json_string_value(json_object_get(c, "password")),
                        "confirmed");
    assert_int_equal(json_integer_value(json_object_get(c, "logins")), 0);
    assert_int_equal(json_integer_value(json_object_get(c, "since")),
                     1796458808);
    json_decref(o);
    free(text);
    report_free(r);

    put(fx->run, "evidence/h1/verify.evidence.json",
        "{\"accounts\":[{\"account\":\"" ALICE "\",\"password\":\"refused\","
        "\"via\":\"smtp auth on loopback\",\"why\":\"\",\"since\":-1,"
        "\"watched_s\":0,\"logins\":-1}]}");
    r = load(fx);
    text = render(r, REPORT_MD);
    assert_non_null(strstr(text, "new password NOT confirmed (refused): the "
                                 "host was left contained"));
    free(text);
    report_free(r);

    put(fx->run, "evidence/h1/verify.evidence.json", "[1]");
    r = load(fx);
    assert_int_equal(r->hosts[0].n_checks, 0);
    text = render(r, REPORT_MD);
    assert_non_null(strstr(text, "verify step's evidence file is not"));
    free(text);
    report_free(r);
}

/* True when s starts with n digits. */
static bool digits(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/*
 * A report with what changes from run to run masked: dates, times of
 * day, 10-digit epochs, SHA-256 digests (of files that hold times).
 */
static char *mask(const char *text)
{
    struct buf b = BUF_INIT;
    const char *p = text;
    size_t hex;

    while (*p != '\0') {
        bool edge = p == text || !((p[-1] >= '0' && p[-1] <= '9') ||
                                   (p[-1] >= 'a' && p[-1] <= 'f'));
        hex = strspn(p, "0123456789abcdef");
        if (edge && hex == SHA256_HEX_LEN) {
            buf_adds(&b, "<sha256>");
            p += hex;
        } else if (edge && digits(p, 4) && p[4] == '-' && digits(p + 5, 2) &&
                   p[7] == '-' && digits(p + 8, 2)) {
            buf_adds(&b, "<date>");
            p += 10;
        } else if (edge && digits(p, 2) && p[2] == ':' && digits(p + 3, 2) &&
                   p[5] == ':' && digits(p + 6, 2)) {
            buf_adds(&b, "<time>");
            p += 8;
        } else if (edge && digits(p, 10) && !digits(p + 10, 1)) {
            buf_adds(&b, "<epoch>");
            p += 10;
        } else {
            buf_add(&b, p, hex > 0 ? hex : 1);
            p += hex > 0 ? hex : 1;
        }
    }
    return buf_detach(&b);
}

/*
 * Compares the masked report of the fixture in md, text and json with
 * tests/fixtures/report/NAME.{md,txt,json}; REPORT_UPDATE_GOLDEN=1
 * rewrites them (then read the diff before committing).
 */
static void golden(struct fixture *fx, const char *name)
{
    static const struct {
        enum report_format f;
        const char *ext;
    } fmts[] = {{REPORT_MD, "md"}, {REPORT_TEXT, "txt"}, {REPORT_JSON, "json"}};
    struct report *r = load(fx);
    struct errbuf e = ERRBUF_INIT;
    char path[512], *text, *got, *want = NULL;
    size_t i, len = 0;

    for (i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
        snprintf(path, sizeof(path), FIXTURES_DIR "/report/%s.%s", name,
                 fmts[i].ext);
        text = render(r, fmts[i].f);
        got = mask(text);
        if (getenv("REPORT_UPDATE_GOLDEN") != NULL)
            assert_int_equal(
                fsio_write_atomic(path, got, strlen(got), 0644, &e), 0);
        assert_int_equal(fsio_read_file(&want, &len, path, 1 << 24, &e), 0);
        if (strcmp(got, want) != 0) {
            snprintf(path, sizeof(path), "/tmp/report-golden-%s.%s", name,
                     fmts[i].ext);
            fsio_write_atomic(path, got, strlen(got), 0600, &e);
            fail_msg("%s.%s differs from the golden file: see %s", name,
                     fmts[i].ext, path);
        }
        free(want);
        want = NULL;
        free(got);
        free(text);
    }
    report_free(r);
}

/* Golden reports: a committed run with a failed (unreachable) host. */
static void test_golden_committed(void **state)
{
    golden(*state, "committed");
}

/* Golden reports: a dry run. */
static void test_golden_dry_run(void **state)
{
    golden(*state, "dry-run");
}

/* Golden reports: one account flagged and reset on two hosts. */
static void test_golden_two_hosts(void **state)
{
    golden(*state, "two-hosts");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_model_numbers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_listing_of_the_identify_pass,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_password_anywhere, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_html_escaped_and_self_contained,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_markdown_escaped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_machine_readable, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_tampered_trail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_journal_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_mail_down_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dry_run, setup_dry, teardown),
        cmocka_unit_test_setup_teardown(test_notices, setup_fleet, teardown),
        cmocka_unit_test_setup_teardown(test_text_format, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damage_and_fleet, setup_fleet,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_golden_committed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_golden_dry_run, setup_dry,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_golden_two_hosts, setup_fleet,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_verify_checks, setup, teardown),
        cmocka_unit_test(test_missing_run),
        cmocka_unit_test(test_clean),
        cmocka_unit_test(test_queue_ages_and_other_row),
        cmocka_unit_test(test_format_parse),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
