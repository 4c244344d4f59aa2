/* The runbook actions and the default playbook on a simulated Postfix host. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
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

#include "fake_exec.h"
#include "spamstop/accounts.h"
#include "spamstop/audit.h"
#include "spamstop/digest.h"
#include "spamstop/engine.h"
#include "spamstop/fsio.h"
#include "spamstop/postfix.h"

/* What the snapshot's tar holds on the simulated host. */
#define QTAR "tar bytes"

/* A simulated host: Postfix's state and the faults a test asks for. */
struct sim {
    bool running;
    int backend; /* ACCOUNTS_BACKEND_* */
    bool recoverable;
    char *identify;     /* the identify pass's output */
    int start_failures; /* this many starts fail first */
    bool bad_fetch;     /* the snapshot's tar fails half-way */
    bool short_delete;  /* the commit deletes one message less */
    int stops, starts;
    int service_cmds;        /* commands that stop, start or look at postfix */
    bool stamped;            /* identify prints file stamps; nothing changes */
    int identify_reads;      /* identify passes that printed envelopes */
    bool dirs;               /* stamped passes print the Postfix directories */
    bool unknown;            /* the backend knows none of the accounts */
    const char *hashed;      /* plesk: this account is stored hashed */
    const char *refuse;      /* plesk refuses the restore with this message */
    const char *maillog;     /* the log evidence pass's output */
    const char *evict;       /* the eviction's output after a rotation */
    int maillog_reads;       /* log evidence passes */
    const char *auth_refuse; /* the check refuses this account's password */
    const char *auth_what;   /* "unknown ...": the check cannot tell */
    const char *auth_smtp;   /* Cyrus: the "smtp PORT MODE" line it prints */
    const char *logins;      /* the watch's output */
    int auth_checks;         /* password checks run */
};

#define SIM_DIRS                                                               \
    "*** SPAMSTOP DIRS /var/spool/postfix /usr/lib/postfix/sbin ***\n"

/* A scratch run folder per test. */
struct scratch {
    char root[64];
    char run[96];
};

static void scratch_make(struct scratch *s)
{
    struct errbuf e = ERRBUF_INIT;
    char sub[160];

    snprintf(s->root, sizeof(s->root), "/tmp/ss-actions-XXXXXX");
    assert_non_null(mkdtemp(s->root));
    snprintf(s->run, sizeof(s->run), "%s/run", s->root);
    snprintf(sub, sizeof(sub), "%s/journal", s->run);
    assert_int_equal(fsio_mkdirs(sub, 0700, &e), 0);
    snprintf(sub, sizeof(sub), "%s/evidence", s->run);
    assert_int_equal(fsio_mkdirs(sub, 0700, &e), 0);
}

static void scratch_rm(struct scratch *s)
{
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->root);
    assert_int_equal(system(cmd), 0);
}

static char *fixture(const char *name)
{
    struct errbuf e = ERRBUF_INIT;
    char path[512], *data = NULL;

    snprintf(path, sizeof(path), "%s/postfix/%s", FIXTURES_DIR, name);
    if (fsio_read_file(&data, NULL, path, 64u << 20, &e) < 0)
        fail_msg("fixture: %s", e.msg);
    return data;
}

/* The fixture with every occurrence of from replaced by to. */
static char *replace_all(const char *text, const char *from, const char *to)
{
    struct buf b = BUF_INIT;
    const char *p = text, *q;

    while ((q = strstr(p, from)) != NULL) {
        buf_add(&b, p, (size_t)(q - p));
        buf_adds(&b, to);
        p = q + strlen(from);
    }
    buf_adds(&b, p);
    return buf_detach(&b);
}

static size_t lines_of(const struct exec_cmd *cmd)
{
    const char *p = cmd->input;
    size_t i, n = 0;

    for (i = 0; p != NULL && i < cmd->input_len; i++)
        n += p[i] == '\n';
    return n;
}

static int reply(struct exec_result *res, const struct exec_cmd *cmd,
                 int status, const char *out, const char *err)
{
    return fake_exec_fill(res, cmd, status, out, out ? strlen(out) : 0, err,
                          err ? strlen(err) : 0);
}

/* reply, a stdout sink fed 7 bytes at a time, as a network cuts it. */
static int reply_cut(struct exec_result *res, const struct exec_cmd *cmd,
                     const char *out, struct errbuf *err)
{
    return fake_exec_fill_sink(res, cmd, 0, out, out ? strlen(out) : 0, NULL, 0,
                               7, err);
}

/*
 * A streamed stdout: the bytes go to out_fd, as the real executor does;
 * with status, a stream cut half-way and the command failing.
 */
static int fetch(struct exec_result *res, const struct exec_cmd *cmd,
                 const char *data, int status)
{
    size_t n = strlen(data) / (status != 0 ? 2 : 1);

    assert_true(cmd->out_fd >= 0);
    assert_int_equal(write(cmd->out_fd, data, n), (ssize_t)n);
    return fake_exec_fill(res, cmd, status, data, n,
                          status != 0 ? "cat: read error\n" : NULL,
                          status != 0 ? 16 : 0);
}

/* The look's word for how the account [a, nl) is stored ("" for Dovecot). */
static const char *sim_storage(const struct sim *s, const char *a,
                               const char *nl)
{
    if (s->backend != ACCOUNTS_BACKEND_PLESK || s->unknown)
        return "";
    if (!s->recoverable ||
        (s->hashed != NULL && (size_t)(nl - a) == strlen(s->hashed) &&
         memcmp(a, s->hashed, (size_t)(nl - a)) == 0))
        return " hashed";
    return " sym";
}

/* How many times needle occurs in text. */
static size_t count_of(const char *text, const char *needle)
{
    size_t n = 0;

    for (; (text = strstr(text, needle)) != NULL; text++)
        n++;
    return n;
}

/*
 * The password check: "ADDR\nPASSWORD\n" pairs on stdin, each password
 * taken unless the test refuses that account or makes the host unsure.
 */
static int sim_auth(struct sim *s, const struct exec_cmd *cmd,
                    struct exec_result *res)
{
    struct buf o = BUF_INIT;
    const char *a = cmd->input, *end = a + cmd->input_len, *nl, *pw;
    int rr;

    s->auth_checks++;
    buf_adds(&o, s->backend == ACCOUNTS_BACKEND_PLESK ? "sasl cyrus\n"
                                                      : "sasl dovecot\n");
    if (s->auth_smtp != NULL)
        buf_printf(&o, "%s\n", s->auth_smtp);
    for (; a != NULL && a < end &&
           (nl = memchr(a, '\n', (size_t)(end - a))) != NULL &&
           (pw = memchr(nl + 1, '\n', (size_t)(end - nl - 1))) != NULL;
         a = pw + 1) {
        bool refused = s->auth_refuse != NULL &&
                       strlen(s->auth_refuse) == (size_t)(nl - a) &&
                       memcmp(a, s->auth_refuse, (size_t)(nl - a)) == 0;
        assert_int_equal(pw - nl - 1, ACCOUNTS_PASSWORD_LEN);
        buf_printf(&o, "auth %s %.*s%s%s\n",
                   s->auth_what != NULL ? "unknown"
                   : refused            ? "refused"
                                        : "ok",
                   (int)(nl - a), a, s->auth_what != NULL ? " " : "",
                   s->auth_what != NULL ? s->auth_what : "");
    }
    rr = reply(res, cmd, 0, o.data, NULL);
    buf_release(&o);
    return rr;
}

/* The simulated host: answers each command the runbook actions send. */
static int sim_run(void *arg, const char *host, const struct exec_cmd *cmd,
                   struct exec_result *res, struct errbuf *err)
{
    struct sim *s = arg;
    const char *c = cmd->command;
    char out[512];
    size_t n = lines_of(cmd);

    (void)host;
    if (strstr(c, "exec cat -- \"$d/queue.tar\"") != NULL)
        return fetch(res, cmd, QTAR, s->bad_fetch ? 1 : 0);
    if (strstr(c, "doveadm kick") != NULL)
        return reply(res, cmd, 0, s->evict, NULL);
    if (strstr(c, "doveadm auth test") != NULL)
        return sim_auth(s, cmd, res);
    if (strstr(c, "Login: user=<") != NULL)
        return reply(res, cmd, 0, s->logins, NULL);
    if (strstr(c, "sasl_username=") != NULL &&
        strstr(c, "journalctl") != NULL) {
        s->maillog_reads++;
        return reply(res, cmd, 0, s->maillog, NULL);
    }
    if (strstr(c, "SPAMSTOP IDENTIFY END") != NULL) {
        if (!s->stamped) {
            s->identify_reads++;
            return reply_cut(res, cmd, s->identify, err);
        }
        /*
         * the messages read (none when stamps came in: nothing changed),
         * then, as the script prints them, a stamp per message file
         */
        struct buf o = BUF_INIT;
        const char *q = s->identify, *e;
        const char *end = strstr(s->identify, "*** SPAMSTOP IDENTIFY END");
        size_t k = 0;
        int rr;
        if (cmd->input_len == 0) {
            s->identify_reads++;
            buf_add(&o, s->identify,
                    end != NULL ? (size_t)(end - s->identify)
                                : strlen(s->identify));
        }
        while ((q = strstr(q, "*** ENVELOPE RECORDS ")) != NULL) {
            q += 21;
            e = strstr(q, " ***");
            buf_printf(&o, "*** SPAMSTOP FILE %.*s %zu 612 1764330000.5 ***\n",
                       (int)(e - q), q, 9000 + k++);
        }
        if (s->dirs)
            buf_adds(&o, SIM_DIRS);
        buf_adds(&o, "*** SPAMSTOP IDENTIFY END ***\n");
        rr = reply_cut(res, cmd, o.data, err);
        buf_release(&o);
        return rr;
    }
    /* service commands detect (or name) the manager and print it first */
    if (strstr(c, "systemctl cat postfix.service") != NULL ||
        strstr(c, "\necho postfix\n") != NULL) {
        s->service_cmds++;
        if (strstr(c, "postfix stop") != NULL ||
            strstr(c, "postfix abort") != NULL) {
            s->stops++;
            s->running = false;
            return reply(res, cmd, 0, "postfix\n", NULL);
        }
        if (strstr(c, "postfix start") != NULL) {
            s->starts++;
            if (s->start_failures > 0) {
                s->start_failures--;
                return reply(res, cmd, 1, "postfix\n",
                             "postfix did not start\n");
            }
            s->running = true;
            return reply(res, cmd, 0, "postfix\n", NULL);
        }
        return reply(res, cmd, s->running ? 0 : 1, "postfix\n", NULL);
    }
    if (strstr(c, "postsuper -h -") != NULL) {
        if (strstr(c, "postfix is running") != NULL && s->running)
            return reply(res, cmd, 75, NULL, "postfix is running\n");
        /* the hold's record: each held file's id, inode, size, ctime */
        struct buf rec = BUF_INIT;
        const char *id = cmd->input, *end = id + cmd->input_len, *nl;
        size_t k = 0;
        int rr;
        for (; id != NULL && id < end &&
               (nl = memchr(id, '\n', (size_t)(end - id))) != NULL;
             id = nl + 1, k++)
            buf_printf(&rec, "%.*s %zu 612 1764330000.%09zu\n", (int)(nl - id),
                       id, 4000 + k, k);
        snprintf(out, sizeof(out), "postsuper: Placed on hold: %zu messages\n",
                 n);
        rr = reply(res, cmd, 0, rec.data, out);
        buf_release(&rec);
        return rr;
    }
    if (strstr(c, "postsuper -H -") != NULL) {
        snprintf(out, sizeof(out),
                 "postsuper: Released from hold: %zu "
                 "messages\n",
                 n);
        return reply(res, cmd, 0, NULL, out);
    }
    if (strstr(c, "postsuper -d - hold") != NULL) {
        char e2[128];
        snprintf(out, sizeof(out), "checked %zu matched %zu\n", n, n);
        snprintf(e2, sizeof(e2), "postsuper: Deleted: %zu messages\n",
                 s->short_delete ? n - 1 : n);
        return reply(res, cmd, 0, out, e2);
    }
    if (strstr(c, "restore.$$") != NULL)
        return reply(res, cmd, 0, "restored 30\n", NULL);
    if (strstr(c, "postfix status") != NULL)
        return reply(res, cmd, s->running ? 0 : 1, NULL, NULL);
    if (strstr(c, "doveconf -n") != NULL) {
        /* the look: the backend, then every account on stdin is known */
        struct buf o = BUF_INIT;
        const char *a = cmd->input, *end = a + cmd->input_len, *nl;
        int rr;
        if (s->backend == ACCOUNTS_BACKEND_PLESK)
            buf_adds(&o, "backend plesk\n");
        else
            buf_adds(&o, "backend dovecot\nrecoverable yes\n"
                         "passwd_file /etc/dovecot/users\n");
        for (; a != NULL && a < end &&
               (nl = memchr(a, '\n', (size_t)(end - a))) != NULL;
             a = nl + 1)
            buf_printf(&o, "account %.*s %s%s\n", (int)(nl - a), a,
                       s->unknown ? "no" : "yes", sim_storage(s, a, nl));
        rr = reply_cut(res, cmd, o.data, err);
        buf_release(&o);
        return rr;
    }
    /* plesk's policy refusing the old password put back */
    if (s->refuse != NULL && strstr(c, "PSA_PASSWORD") != NULL &&
        strstr(c, "\nk=''\n") == NULL)
        return reply(res, cmd, 1, NULL, s->refuse);
    /* rotation, restore, checks, plesk: succeed quietly */
    return reply(res, cmd, 0, NULL, NULL);
}

static void sim_init(struct sim *s, int backend)
{
    memset(s, 0, sizeof(*s));
    s->running = true;
    s->backend = backend;
    s->recoverable = true;
    s->identify = fixture("identify-lab.txt");
    s->maillog = "now 1796458686 +0000\nsource /var/log/mail.log\nend\n";
}

static struct playbook *default_playbook(void)
{
    struct playbook *pb = NULL;
    struct errbuf e = ERRBUF_INIT;

    if (playbook_load(&pb, PLAYBOOK_DIR "/compromised-account.json",
                      engine_action_lookup, &e) < 0)
        fail_msg("playbook: %s", e.msg);
    /* the fixture's queue is small: alice has 30 of its 40 messages */
    assert_int_equal(playbook_set_param(pb, "min_messages", "10", &e), 0);
    return pb;
}

/*
 * Runs mode (0 respond, 1 rollback, 2 resume) on host h1; keeps its plan
 * in plan.
 */
/* Appends "  top ADDRESS KIND: V1 N1, V2 N2\n" when v lists values. */
static void values_text(struct buf *out, const char *address, const char *kind,
                        const struct engine_values *v)
{
    size_t i;

    if (v->n == 0)
        return;
    buf_printf(out, "  top %s %s:", address, kind);
    for (i = 0; i < v->n; i++)
        buf_printf(out, "%s %s %lld", i == 0 ? "" : ",", v->v[i].value,
                   v->v[i].messages);
    buf_addc(out, '\n');
}

/*
 * The host's records as lines to search: per step "[N] NAME STATUS
 * [pivot=WHY]" and its notes "  KEY|SUBJECT|VALUE|TEXT"; a survey as
 * "  account LEVEL ADDRESS MESSAGES why=WHY", "  log SOURCE RECORDS" and
 * "  unchanged N".
 */
static void records_text(struct buf *out, const struct engine_host *h,
                         const struct playbook *pb)
{
    static const char *const level[] = {"seen", "watch", "FLAGGED"};
    size_t i, k;

    for (i = 0; i < h->nsteps && i < pb->nsteps; i++) {
        const struct engine_step_rec *r = &h->steps[i];
        const struct engine_survey *sv = r->survey;
        buf_printf(out, "[%zu] %s %s%s%s%s%s\n", i + 1, pb->steps[i].name,
                   engine_step_status_name(r->status),
                   r->pivot_why != NULL ? " pivot=" : "",
                   r->pivot_why != NULL ? r->pivot_why : "",
                   r->why != NULL ? " why=" : "", r->why != NULL ? r->why : "");
        for (k = 0; k < r->nnotes; k++)
            buf_printf(out, "  %s|%s|%lld|%s\n", r->notes[k].key,
                       r->notes[k].subject ? r->notes[k].subject : "",
                       r->notes[k].value,
                       r->notes[k].text ? r->notes[k].text : "");
        for (k = 0; sv != NULL && k < sv->naccounts; k++) {
            const struct engine_account *a = &sv->accounts[k];
            buf_printf(out, "  account %s %s %lld why=%s\n", level[a->level],
                       a->address, a->messages, a->why ? a->why : "");
            values_text(out, a->address, "client", &a->top_clients);
            values_text(out, a->address, "helo", &a->helos);
            values_text(out, a->address, "subject", &a->subjects);
        }
        if (sv != NULL && sv->log_source != NULL)
            buf_printf(out, "  log %s %lld\n", sv->log_source, sv->log_records);
        if (sv != NULL && sv->unchanged >= 0)
            buf_printf(out, "  unchanged %lld\n", sv->unchanged);
    }
}

/* The mail_down_ms fact of the last run_h1's host, -1 when none. */
static long long last_mail_down = -1;

/* The verify checks and the facts of the last run_h1's host. */
static struct engine_check last_checks[4];
static size_t last_nchecks, last_facts;
static struct engine_fact facts[ENGINE_FACTS_MAX];

/* The value of fact key of the last run_h1's host, or -2 when absent. */
static long long last_fact(const char *key)
{
    size_t i;

    for (i = 0; i < last_facts; i++)
        if (strcmp(facts[i].key, key) == 0)
            return facts[i].value;
    return -2;
}

/* What the next rollback (run_h1 mode 1) is for; tests set and clear it. */
static const struct strlist *rb_accounts;
static bool rb_restore;

static enum host_state run_h1(int mode, struct executor *ex,
                              const struct playbook *pb,
                              const struct scratch *s, bool dry_run,
                              struct audit *audit, struct buf *plan,
                              struct errbuf *herr)
{
    struct engine_host h;
    struct engine_opts o;
    struct errbuf e = ERRBUF_INIT;
    enum host_state st;

    engine_host_init(&h);
    h.target.name = strdup("h1");
    engine_opts_init(&o);
    o.ex = ex;
    o.pb = pb;
    o.run_dir = s->run;
    o.run_id = "20261128-101500-ab12";
    o.dry_run = dry_run;
    o.audit = audit;
    o.accounts = rb_accounts;
    o.restore_password = rb_restore;
    if (mode == 0)
        assert_int_equal(engine_respond(&h, 1, &o, &e), 0);
    else if (mode == 1)
        assert_int_equal(engine_rollback(&h, 1, &o, &e), 0);
    else
        assert_int_equal(engine_resume(&h, 1, &o, &e), 0);
    st = h.state;
    last_nchecks = h.nchecks < 4 ? h.nchecks : 4;
    if (last_nchecks > 0)
        memcpy(last_checks, h.checks, last_nchecks * sizeof(*last_checks));
    last_facts = h.nfacts;
    memcpy(facts, h.facts, sizeof(facts));
    last_mail_down = -1;
    for (size_t k = 0; k < h.nfacts; k++)
        if (strcmp(h.facts[k].key, "mail_down_ms") == 0)
            last_mail_down = h.facts[k].value;
    if (plan != NULL)
        records_text(plan, &h, pb);
    if (herr != NULL)
        *herr = h.err;
    engine_host_release(&h);
    return st;
}

static struct executor *sim_exec(struct sim *s)
{
    struct executor *ex = fake_exec_new();

    fake_exec_set_handler(ex, sim_run, s);
    return ex;
}

/* Index of the first logged command containing s at or after from. */
static size_t find_cmd(struct executor *ex, const char *s, size_t from)
{
    size_t i;

    for (i = from; i < fake_exec_count(ex); i++)
        if (strstr(fake_exec_command(ex, i), s) != NULL)
            return i;
    return (size_t)-1;
}

/* The credentials file's one line for h1: its password (caller frees). */
static char *credential(const struct scratch *s, const char *addr)
{
    struct errbuf e = ERRBUF_INIT;
    struct stat st;
    char path[160], *text = NULL, want[128], *p, *nl, *pw;

    snprintf(path, sizeof(path), "%s/credentials", s->run);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(fsio_read_file(&text, NULL, path, 1 << 20, &e), 0);
    snprintf(want, sizeof(want), "h1 %s ", addr);
    p = strstr(text, want);
    assert_non_null(p);
    p += strlen(want);
    nl = strchr(p, '\n');
    assert_non_null(nl);
    pw = strndup(p, (size_t)(nl - p));
    assert_int_equal(strlen(pw), ACCOUNTS_PASSWORD_LEN);
    free(text);
    return pw;
}

/* No logged command text holds s, nor any stdin except the one allowed. */
static void assert_nowhere(struct executor *ex, const char *s,
                           const char *stdin_ok_cmd)
{
    size_t i;

    for (i = 0; i < fake_exec_count(ex); i++) {
        const char *in = fake_exec_stdin(ex, i);
        assert_null(strstr(fake_exec_command(ex, i), s));
        /* the password check after the start gets it on stdin too */
        if (in != NULL && strstr(in, s) != NULL &&
            strstr(fake_exec_command(ex, i), "doveadm auth test") == NULL)
            assert_non_null(stdin_ok_cmd != NULL
                                ? strstr(fake_exec_command(ex, i), stdin_ok_cmd)
                                : NULL);
    }
}

/* How many lines of h1's journal hold s. */
static int journal_has(const struct scratch *s, const char *str)
{
    struct errbuf e = ERRBUF_INIT;
    char path[160], *text = NULL;
    const char *p;
    int n = 0;

    snprintf(path, sizeof(path), "%s/journal/h1.jsonl", s->run);
    assert_int_equal(fsio_read_file(&text, NULL, path, 64u << 20, &e), 0);
    for (p = text; (p = strstr(p, str)) != NULL; p++)
        n++;
    free(text);
    return n;
}

/*
 * The identify pass after the stop sends the survey's file stamps and the
 * host reads no file again (none changed): the run acts on the survey's
 * messages, as many as before, and says how many it did not read again.
 */
static void test_identify_reuses_the_survey(void **state)
{
    struct scratch s;
    struct sim sim;
    struct executor *ex;
    struct playbook *pb = default_playbook();
    struct buf plan = BUF_INIT;
    struct errbuf e = ERRBUF_INIT;
    char path[256], *text = NULL;
    size_t i_survey, i_ident, i_hold, n;
    const char *in;

    (void)state;
    scratch_make(&s);
    sim_init(&sim, ACCOUNTS_BACKEND_DOVECOT);
    sim.stamped = true;
    ex = sim_exec(&sim);
    assert_int_equal(run_h1(0, ex, pb, &s, false, NULL, &plan, NULL),
                     HOST_COMMITTED);
    assert_int_equal(sim.identify_reads, 1);
    i_survey = find_cmd(ex, "SPAMSTOP IDENTIFY END", 0);
    i_ident = find_cmd(ex, "SPAMSTOP IDENTIFY END", i_survey + 1);
    assert_true(i_ident != (size_t)-1);
    assert_null(fake_exec_stdin(ex, i_survey));
    in = fake_exec_stdin(ex, i_ident);
    assert_non_null(in);
    for (n = 0; *in != '\0'; in = strchr(in, '\n') + 1)
        n++;
    assert_int_equal(n, 40); /* every message of the fixture */
    assert_non_null(
        strstr(fake_exec_stdin(ex, i_ident), " 612 1764330000.5\n"));
    assert_non_null(strstr(plan.data, "  unchanged 40\n"));
    /* the survey keeps a flagged account's evidence for the fleet picture:
       its client addresses as the queue counts them, most first */
    assert_non_null(strstr(plan.data, "  top alice@example.test client: "
                                      "10.80.0.2 10, 10.80.0.3 10, 10.80.0.4 "
                                      "5, 10.80.0.5 5\n"));
    assert_non_null(strstr(plan.data, "  top alice@example.test helo: "));
    assert_non_null(strstr(plan.data, "  top alice@example.test subject: "));
    /* only flagged accounts carry it */
    assert_null(strstr(plan.data, "  top bob@"));
    /* alice's 30 messages are held, from the survey's envelopes */
    i_hold = find_cmd(ex, "postsuper -h -", i_ident);
    in = fake_exec_stdin(ex, i_hold);
    for (n = 0; in != NULL && *in != '\0'; in = strchr(in, '\n') + 1)
        n++;
    assert_int_equal(n, 30);
    /* each pass's output is evidence, as it came: the survey read every
     * file, the pass after it none */
    snprintf(path, sizeof(path), "%s/evidence/h1/seen.identify", s.run);
    assert_int_equal(fsio_read_file(&text, NULL, path, 1u << 20, &e), 0);
    assert_int_equal(count_of(text, "*** ENVELOPE RECORDS "), 40);
    assert_non_null(strstr(text, "*** SPAMSTOP IDENTIFY END ***\n"));
    free(text);
    snprintf(path, sizeof(path), "%s/evidence/h1/suspects.identify", s.run);
    assert_int_equal(fsio_read_file(&text, NULL, path, 1u << 20, &e), 0);
    assert_int_equal(count_of(text, "*** ENVELOPE RECORDS "), 0);
    assert_int_equal(count_of(text, "*** SPAMSTOP FILE "), 40);
    free(text);
    buf_release(&plan);
    executor_free(ex);
    free(sim.identify);
    playbook_free(pb);
    scratch_rm(&s);
}

static void test_dovecot_host_end_to_end(void **state)
{
    struct scratch s;
    struct sim sim;
    struct executor *ex;
    struct playbook *pb = default_playbook();
    struct errbuf e = ERRBUF_INIT;
    char *pw, *data = NULL, path[256];
    size_t i_stop, i_ident, i_snap, i_rot, i_hold, i_start, i_del, i;
    const char *in;

    (void)state;
    scratch_make(&s);
    sim_init(&sim, ACCOUNTS_BACKEND_DOVECOT);
    ex = sim_exec(&sim);
    assert_int_equal(run_h1(0, ex, pb, &s, false, NULL, NULL, NULL),
                     HOST_COMMITTED);
    /* the article's order, with the identify pass the run acts on after
     * the stop, the evidence copy once Postfix runs again (from the hold
     * queue), and the delete and the end of the old hashes at commit */
    i_stop = find_cmd(ex, "postfix stop", 0);
    i_ident = find_cmd(ex, "SPAMSTOP IDENTIFY END", i_stop);
    i_rot = find_cmd(ex, "no hash on stdin", i_ident);
    i_hold = find_cmd(ex, "postsuper -h -", i_rot);
    i_start = find_cmd(ex, "postfix start", i_hold);
    i_snap = find_cmd(ex, "queue.tar.tmp", i_start);
    i_del = find_cmd(ex, "postsuper -d - hold", i_snap);
    assert_true(i_stop < i_ident && i_ident < i_rot && i_rot < i_hold &&
                i_hold < i_start && i_start < i_snap && i_snap < i_del &&
                i_del != (size_t)-1);
    assert_true(find_cmd(ex, "rm -rf -- \"$b\"", i_snap) != (size_t)-1);
    assert_int_equal(fake_exec_count_matching(ex, NULL, "IDENTIFY END"), 2);
    assert_true(sim.running);
    /* the host gets the hash only; the password is only in credentials */
    pw = credential(&s, "alice@example.test");
    in = fake_exec_stdin(ex, i_rot);
    assert_non_null(in);
    assert_int_equal(strncmp(in, "alice@example.test\n{SHA512-CRYPT}$6$", 36),
                     0);
    {
        char hash[ACCOUNTS_HASH_MAX];
        snprintf(hash, sizeof(hash), "%s", in + 19);
        hash[strcspn(hash, "\n")] = '\0';
        assert_true(accounts_password_matches(pw, hash));
    }
    assert_nowhere(ex, pw, NULL);
    /* hold and delete exactly alice's 30 messages, all ids checked */
    in = fake_exec_stdin(ex, i_hold);
    for (i = 0; in != NULL && *in != '\0'; in = strchr(in, '\n') + 1)
        i++;
    assert_int_equal(i, 30);
    /* the commit deletes by the hold's record: id, inode, size, ctime */
    in = fake_exec_stdin(ex, i_del);
    assert_non_null(strstr(in, " 612 1764330000."));
    for (i = 0; *in != '\0'; in = strchr(in, '\n') + 1)
        i++;
    assert_int_equal(i, 30);
    assert_null(strstr(fake_exec_command(ex, i_del), "postcat"));
    /* the stop looks and acts; the start only acts: the stop left Postfix
     * stopped and checked it, and no step between may start it */
    assert_int_equal(sim.service_cmds, 3);
    /* rotate looks at the host once, backend and accounts in one command:
     * apply takes prepare's look */
    assert_int_equal(fake_exec_count_matching(ex, NULL, "doveconf -n"), 1);
    assert_int_equal(fake_exec_count_matching(ex, NULL, "n == 1 ? 0 : 4"), 2);
    assert_int_equal(fake_exec_count_matching(ex, NULL, "--info"), 1);
    /* the evidence copies are here */
    snprintf(path, sizeof(path), "%s/evidence/h1/queue.tar", s.run);
    assert_int_equal(fsio_read_file(&data, NULL, path, 1024, &e), 0);
    assert_string_equal(data, QTAR);
    free(data);
    free(pw);
    executor_free(ex);
    free(sim.identify);
    playbook_free(pb);
    scratch_rm(&s);
}

/*
 * What a host's first pass learns saves commands later: the survey prints
 * the Postfix directories, and no later command starts postconf for them;
 * the start step takes the state the stop step left and checked.
 */
static void test_host_memos_save_commands(void **state)
{
    struct scratch s;
    struct sim sim;
    struct executor *ex;
    struct playbook *pb = default_playbook();
    struct buf plan = BUF_INIT;
    size_t i, n, entered = 0;
    const char *c;

    (void)state;
    scratch_make(&s);
    sim_init(&sim, ACCOUNTS_BACKEND_DOVECOT);
    sim.stamped = true;
    sim.dirs = true;
    ex = sim_exec(&sim);
    assert_int_equal(run_h1(0, ex, pb, &s, false, NULL, &plan, NULL),
                     HOST_COMMITTED);
    n = fake_exec_count(ex);
    assert_true(n > 5);
    /* only the survey, the first command, asks postconf */
    assert_non_null(strstr(fake_exec_command(ex, 0), "SPAMSTOP IDENTIFY END"));
    /* (and the password check, for the SASL type) */
    assert_int_equal(
        fake_exec_count_matching(ex, NULL, "postconf -h") -
            fake_exec_count_matching(ex, NULL, "doveadm auth test"),
        1);
    assert_non_null(strstr(fake_exec_command(ex, 0), "postconf -h"));
    for (i = 1; i < n; i++) {
        c = fake_exec_command(ex, i);
        if (strstr(c, "cd \"$q\"") == NULL && strstr(c, "running()") == NULL)
            continue;
        entered++;
        assert_non_null(strstr(c, "q='/var/spool/postfix'\n"
                                  "pdd='/usr/lib/postfix/sbin'\n"));
    }
    assert_true(entered >= 6); /* stop, identify, snapshot, purge, start... */
    assert_int_equal(sim.service_cmds, 3);
    assert_int_equal(sim.stops, 1);
    assert_int_equal(sim.starts, 1);
    assert_true(sim.running);
    /* the start's plan came from the stop's own check: no second look */
    assert_non_null(strstr(plan.data, "  service_start|postfix|-1|postfix\n"));
    buf_release(&plan);
    executor_free(ex);
    free(sim.identify);
    playbook_free(pb);
    scratch_rm(&s);
}

static void test_dry_run_changes_nothing(void **state)
{
    struct scratch s;
    struct sim sim;
    struct executor *ex;
    struct playbook *pb = default_playbook();
    struct buf plan = BUF_INIT;
    char path[160];
    size_t i;

    (void)state;
    scratch_make(&s);
    sim_init(&sim, ACCOUNTS_BACKEND_DOVECOT);
    ex = sim_exec(&sim);
    assert_int_equal(run_h1(0, ex, pb, &s, true, NULL, &plan, NULL),
                     HOST_DRY_RUN);
    for (i = 0; i < fake_exec_count(ex); i++) {
        const char *c = fake_exec_command(ex, i);
        assert_null(strstr(c, "postfix stop"));
        assert_null(strstr(c, "postfix start"));
        assert_null(strstr(c, "postsuper"));
        assert_null(strstr(c, "no hash on stdin"));
        assert_null(strstr(c, "sha256sum queue.json"));
    }
    assert_true(sim.running);
    assert_non_null(strstr(plan.data, "  service_stop|postfix|-1|postfix\n"));
    assert_non_null(strstr(plan.data, "  hold|alice@example.test|30|\n"));
    assert_non_null(
        strstr(plan.data, "  password|alice@example.test|1|dovecot"));
    assert_null(strstr(plan.data, "hold|bob@"));
    snprintf(path, sizeof(path), "%s/credentials", s.run);
    assert_int_not_equal(access(path, F_OK), 0);
    buf_release(&plan);
    executor_free(ex);
    free(sim.identify);
    playbook_free(pb);
    scratch_rm(&s);
}

static void test_failed_start_stays_contained(void **state)
{
    struct scratch s;
    struct sim sim;
    struct executor *ex;
    struct playbook *pb = default_playbook();
    struct errbuf herr = ERRBUF_INIT;
    size_t i_fail, i_start2;

    (void)state;
    scratch_make(&s);
    sim_init(&sim, ACCOUNTS_BACKEND_DOVECOT);
    sim.start_failures = 1;
    ex = sim_exec(&sim);
    assert_int_equal(run_h1(0, ex, pb, &s, false, NULL, NULL, &herr),
                     HOST_CONTAINED);
    /* the new hash and the hold stay; only the stop is undone */
    i_fail = find_cmd(ex, "postfix start", 0);
    i_start2 = find_cmd(ex, "postfix start", i_fail + 1);
    assert_true(i_fail < i_start2 && i_start2 != (size_t)-1);
    assert_int_equal(fake_exec_count_matching(ex, NULL, "postsuper -H"), 0);
    assert_int_equal(fake_exec_count_matching(ex, NULL, "nothing to put back"),
                     0);
    assert_int_equal(fake_exec_count_matching(ex, NULL, "postsuper -d"), 0);
    assert_non_null(strstr(herr.msg, "kept: rotate, purge; left: start, "
                                     "verify, snapshot, the commit"));
    assert_true(sim.running);
    /* resume finishes it without stopping Postfix or rotating again */
    fake_exec_clear_log(ex);
    assert_int_equal(run_h1(2, ex, pb, &s, false, NULL, NULL, NULL),
                     HOST_COMMITTED);
    assert_int_equal(fake_exec_count_matching(ex, NULL, "postfix stop"), 0);
    assert_int_equal(fake_exec_count_matching(ex, NULL, "no hash on stdin"), 0);
    assert_int_equal(fake_exec_count_matching(ex, NULL, "queue.tar.tmp"), 1);
    assert_int_equal(fake_exec_count_matching(ex, NULL, "postsuper -d"), 1);
    assert_true(sim.running);
    executor_free(ex);
    free(sim.identify);
    playbook_free(pb);
    scratch_rm(&s);
}

/*
 * Rewrites h1's journal as a run of an earlier version wrote it: the
 * purge's undo data lists every id and account, its commit data every
 * held record, instead of naming the evidence files that hold them.
 */
static void journal_as_older_run(const struct scratch *s)
{
    struct errbuf e = ERRBUF_INIT;
    char path[256], *text = NULL, *ids = NULL, *held = NULL, *line, *nl;
    struct buf out = BUF_INIT;
    json_t *o, *u, *c, *a, *b;
    size_t len;

    snprintf(path, sizeof(path), "%s/evidence/h1/suspects.ids", s->run);
    assert_int_equal(fsio_read_file(&ids, NULL, path, 1u << 20, &e), 0);
    snprintf(path, sizeof(path), "%s/evidence/h1/suspects.held", s->run);
    assert_int_equal(fsio_read_file(&held, NULL, path, 1u << 20, &e), 0);
    u = json_pack("{s:[],s:[],s:s}", "ids", "accounts", "snapshot",
                  "/var/lib/spamstop/20261128-101500-ab12/h1/snapshot/"
                  "queue.tar");
    for (line = ids; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
        char q[32], id[32], acct[128];
        if (sscanf(line, "%31s %31s %127s", q, id, acct) == 3 &&
            strcmp(q, "total") != 0) {
            json_array_append_new(json_object_get(u, "ids"), json_string(id));
            json_array_append_new(json_object_get(u, "accounts"),
                                  json_string(acct));
        }
    }
    c = json_pack("{s:[]}", "held");
    for (line = held; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
        char id[32], ino[32], size[32], ct[48];
        assert_int_equal(sscanf(line, "%31s %31s %31s %47s", id, ino, size, ct),
                         4);
        json_array_append_new(
            json_object_get(c, "held"),
            json_pack("[sssss]", id, "alice@example.test", ino, size, ct));
    }
    assert_int_equal(json_array_size(json_object_get(c, "held")), 30);
    snprintf(path, sizeof(path), "%s/journal/h1.jsonl", s->run);
    assert_int_equal(fsio_read_file(&text, &len, path, 64u << 20, &e), 0);
    for (line = text; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
        *nl = '\0';
        assert_non_null(o = json_loads(line, 0, NULL));
        a = json_object_get(o, "undo_data");
        b = json_object_get(o, "commit_data");
        if (json_is_string(a) && strstr(json_string_value(a), "ids_file")) {
            char *d = json_dumps(u, JSON_COMPACT);
            json_object_set_new(o, "undo_data", json_string(d));
            free(d);
        }
        if (json_is_string(b) && strstr(json_string_value(b), "held_file")) {
            char *d = json_dumps(c, JSON_COMPACT);
            json_object_set_new(o, "commit_data", json_string(d));
            free(d);
        }
        char *d = json_dumps(o, JSON_COMPACT);
        buf_adds(&out, d);
        buf_addc(&out, '\n');
        free(d);
        json_decref(o);
    }
    assert_non_null(strstr(out.data, "\\\"held\\\":[[\\\""));
    assert_non_null(strstr(out.data, "\\\"ids\\\":[\\\""));
    assert_int_equal(fsio_write_atomic(path, out.data, out.len, 0600, &e), 0);
    json_decref(u);
    json_decref(c);
    buf_release(&out);
    free(text);
    free(ids);
    free(held);
}

/*
 * A run an earlier version left contained (its journal holding the ids
 * and the hold record itself) is finished by this one, and another is
 * rolled back: the delete gets the recorded holds, the release the ids.
 */
static void test_purge_data_of_an_older_run(void **state)
{
    struct scratch s;
    struct sim sim;
    struct executor *ex;
    struct playbook *pb = default_playbook();
    struct errbuf herr = ERRBUF_INIT;
    const char *in;
    size_t i, n;
    int pass;

    (void)state;
    for (pass = 0; pass < 2; pass++) {
        scratch_make(&s);
        sim_init(&sim, ACCOUNTS_BACKEND_DOVECOT);
        sim.start_failures = 1;
        ex = sim_exec(&sim);
        assert_int_equal(run_h1(0, ex, pb, &s, false, NULL, NULL, &herr),
                         HOST_CONTAINED);
        journal_as_older_run(&s);
        fake_exec_clear_log(ex);
        assert_int_equal(
            run_h1(pass == 0 ? 2 : 1, ex, pb, &s, false, NULL, NULL, NULL),
            pass == 0 ? HOST_COMMITTED : HOST_ROLLED_BACK);
        i = find_cmd(ex, pass == 0 ? "postsuper -d - hold" : "postsuper -H -",
                     0);
        assert_true(i != (size_t)-1);
        in = fake_exec_stdin(ex, i);
        assert_non_null(in);
        for (n = 0; *in != '\0'; in = strchr(in, '\n') + 1)
            n++;
        assert_int_equal(n, 30); /* alice's 30 held messages */
        executor_free(ex);
        free(sim.identify);
        scratch_rm(&s);
    }
    playbook_free(pb);
}

static void test_rollback_after_commit(void **state)
{
    struct scratch s;
    struct sim sim;
    struct executor *ex;
    struct playbook *pb = default_playbook();
    size_t from, i_stop, i_restore, i_hash, i_start;
    struct errbuf herr = ERRBUF_INIT;

    (void)state;
    scratch_make(&s);
    sim_init(&sim, ACCOUNTS_BACKEND_DOVECOT);
    ex = sim_exec(&sim);
    assert_int_equal(run_h1(0, ex, pb, &s, false, NULL, NULL, NULL),
                     HOST_COMMITTED);
    from = fake_exec_count(ex);
    assert_int_equal(run_h1(1, ex, pb, &s, false, NULL, NULL, &herr),
                     HOST_ROLLED_BACK);
    /* Postfix is never stopped; purged mail back on hold from the
     * snapshot; the old hash was destroyed at commit: the new one stays */
    i_stop = find_cmd(ex, "postfix abort", from);
    i_restore = find_cmd(ex, "restore.$$", from);
    i_hash = find_cmd(ex, "not rotated: nothing to put back", from);
    i_start = find_cmd(ex, "postfix start", i_restore);
    assert_true(i_stop == (size_t)-1 && i_hash == (size_t)-1);
    assert_true(i_restore < i_start && i_start != (size_t)-1);
    assert_non_null(strstr(herr.msg, "the new password of alice@example.test "
                                     "stays: the old one was destroyed"));
    assert_non_null(strstr(fake_exec_command(ex, i_restore),
                           "/var/lib/spamstop/20261128-101500-ab12/h1/"
                           "snapshot/queue.tar"));
    assert_int_equal(fake_exec_count_matching(ex, NULL, "postsuper -H"), 0);
    assert_true(sim.running);
    /* a second rollback would keep it again: nothing to do, no contact */
    fake_exec_clear_log(ex);
    assert_int_equal(run_h1(1, ex, pb, &s, false, NULL, NULL, NULL),
                     HOST_NOTHING);
    assert_int_equal(fake_exec_connects(ex), 0);
    executor_free(ex);
    free(sim.identify);
    playbook_free(pb);
    scratch_rm(&s);
}

static void test_plesk_hashed_is_a_pivot_in_the_plan(void **state)
{
    struct scratch s;
    struct sim sim;
    struct executor *ex;
    struct playbook *pb = default_playbook();
    struct buf plan = BUF_INIT;
    struct errbuf herr = ERRBUF_INIT;

    (void)state;
    scratch_make(&s);
    sim_init(&sim, ACCOUNTS_BACKEND_PLESK);
    sim.recoverable = false;
    ex = sim_exec(&sim);
    assert_int_equal(run_h1(0, ex, pb, &s, true, NULL, &plan, NULL),
                     HOST_DRY_RUN);
    /* the step's record says it, for the plan to show first */
    assert_non_null(strstr(plan.data, "[4] rotate planned pivot=plesk "
                                      "hashes mail passwords"));
    assert_true(strstr(plan.data, "pivot=") < strstr(plan.data, "  password|"));
    assert_int_equal(run_h1(0, ex, pb, &s, false, NULL, NULL, NULL),
                     HOST_COMMITTED);
    /* nothing to keep: no copy of the old password is attempted */
    assert_int_equal(fake_exec_count_matching(ex, NULL, "$k.tmp"), 0);
    /* journaled as a pivot on this host */
    assert_int_equal(journal_has(&s, "\"kind\":\"pivot\",\"command\":"
                                     "\"action rotate"),
                     1);
    /* the pivot is containment: rollback brings the mail back and keeps
     * the new password, as everywhere */
    fake_exec_clear_log(ex);
    assert_int_equal(run_h1(1, ex, pb, &s, false, NULL, NULL, &herr),
                     HOST_ROLLED_BACK);
    assert_non_null(strstr(herr.msg, "the new password of alice@example.test "
                                     "stays"));
    assert_int_equal(fake_exec_count_matching(ex, NULL, "PSA_PASSWORD"), 0);
    buf_release(&plan);
    executor_free(ex);
    free(sim.identify);
    playbook_free(pb);
    scratch_rm(&s);
}

static void test_plesk_pivot_finishes_forward(void **state)
{
    struct scratch s;
    struct sim sim;
    struct executor *ex;
    struct playbook *pb = default_playbook();
    struct errbuf herr = ERRBUF_INIT;

    (void)state;
    /* a failure after the pivot keeps the containment; a Postfix that
     * will not start needs attention; resume starts it, finishing the
     * containment, and goes on forward to the commit */
    scratch_make(&s);
    sim_init(&sim, ACCOUNTS_BACKEND_PLESK);
    sim.recoverable = false;
    sim.start_failures = 100;
    ex = sim_exec(&sim);
    assert_int_equal(run_h1(0, ex, pb, &s, false, NULL, NULL, &herr),
                     HOST_ATTENTION);
    assert_non_null(strstr(herr.msg, "undo of step 2 'stop' failed"));
    assert_int_equal(fake_exec_count_matching(ex, NULL, "postsuper -H"), 0);
    assert_int_equal(fake_exec_count_matching(ex, NULL, "postsuper -d"), 0);
    assert_int_equal(sim.stops, 1);
    sim.start_failures = 0;
    fake_exec_clear_log(ex);
    assert_int_equal(run_h1(2, ex, pb, &s, false, NULL, NULL, NULL),
                     HOST_COMMITTED);
    assert_int_equal(fake_exec_count_matching(ex, NULL, "PSA_PASSWORD"), 0);
    assert_int_equal(fake_exec_count_matching(ex, NULL, "postsuper -d"), 1);
    assert_true(sim.running);
    executor_free(ex);
    free(sim.identify);
    scratch_rm(&s);

    /* the evidence copy failing after it: contained, like elsewhere */
    scratch_make(&s);
    sim_init(&sim, ACCOUNTS_BACKEND_PLESK);
    sim.recoverable = false;
    sim.bad_fetch = true;
    ex = sim_exec(&sim);
    assert_int_equal(run_h1(0, ex, pb, &s, false, NULL, NULL, NULL),
                     HOST_CONTAINED);
    assert_int_equal(fake_exec_count_matching(ex, NULL, "PSA_PASSWORD"), 1);
    assert_true(sim.running);
    assert_int_equal(journal_has(&s, "\"kind\":\"pivot\""), 1);
    executor_free(ex);
    free(sim.identify);
    scratch_rm(&s);
    playbook_free(pb);
}

/* Every file under RUN/evidence/h1 has its "evidence" record in trail. */
static void assert_evidence_in_trail(const struct scratch *s, const char *trail)
{
    struct errbuf e = ERRBUF_INIT;
    char dir[160], path[512], want[640], sha[SHA256_HEX_LEN + 1];
    char *data = NULL;
    size_t len, files = 0, recs = 0;
    const char *p;
    struct dirent *de;
    DIR *d;

    snprintf(dir, sizeof(dir), "%s/evidence/h1", s->run);
    assert_non_null(d = opendir(dir));
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        assert_int_equal(fsio_read_file(&data, &len, path, 64u << 20, &e), 0);
        assert_int_equal(sha256_hex(sha, data, len), 0);
        snprintf(want, sizeof(want),
                 "\"data\":{\"path\":\"evidence/h1/%s\",\"size\":%zu,"
                 "\"sha256\":\"%s\"}",
                 de->d_name, len, sha);
        if (strstr(trail, want) == NULL)
            fail_msg("no evidence record %s", want);
        free(data);
        data = NULL;
        files++;
    }
    closedir(d);
    for (p = trail; (p = strstr(p, "\"event\":\"evidence\"")) != NULL; p++)
        recs++;
    /* seen and suspects .identify/.json/.ids/.queue.json, seen.maillog
     * (the logs are read once) and seen.stamps (the survey's file stamps,
     * the later pass's stdin), suspects.held (the hold's record, which the
     * commit deletes by), queue.tar, and the evidence of survey, stop,
     * identify, rotate (the eviction), start, verify and snapshot */
    assert_int_equal(files, 19);
    assert_int_equal(recs, files);
}

static void test_evidence_in_the_audit_trail(void **state)
{
    struct scratch s;
    struct sim sim;
    struct executor *ex;
    struct playbook *pb = default_playbook();
    struct audit *audit = NULL;
    struct errbuf e = ERRBUF_INIT;
    char path[160], *trail = NULL, *text = NULL;

    (void)state;
    scratch_make(&s);
    sim_init(&sim, ACCOUNTS_BACKEND_DOVECOT);
    sim.evict = "now 1796458600\ncache flushed\nkicked alice@example.test 2\n";
    ex = sim_exec(&sim);
    snprintf(path, sizeof(path), "%s/audit.jsonl", s.run);
    assert_int_equal(audit_open(&audit, path, "20261128-101500-ab12", &e), 0);
    assert_int_equal(run_h1(0, ex, pb, &s, false, audit, NULL, NULL),
                     HOST_COMMITTED);
    audit_close(audit);
    assert_int_equal(fsio_read_file(&trail, NULL, path, 64u << 20, &e), 0);
    assert_evidence_in_trail(&s, trail);
    /* the step's evidence JSON is kept, not only held in memory */
    snprintf(path, sizeof(path), "%s/evidence/h1/snapshot.evidence.json",
             s.run);
    assert_int_equal(fsio_read_file(&text, NULL, path, 1 << 20, &e), 0);
    assert_non_null(strstr(text, "\"messages\":30"));
    assert_non_null(strstr(text, "queue.tar"));
    free(text);
    /* the rotation flushed the auth cache and ended alice's 2 sessions */
    snprintf(path, sizeof(path), "%s/evidence/h1/rotate.evidence.json", s.run);
    assert_int_equal(fsio_read_file(&text, NULL, path, 1 << 20, &e), 0);
    assert_string_equal(text, "{\"at\":1796458600,\"auth_cache\":\"flushed\","
                              "\"sessions_ended\":2,\"kick_failed\":0,"
                              "\"evicted\":true}");
    free(text);
    free(trail);
    executor_free(ex);
    free(sim.identify);
    playbook_free(pb);
    scratch_rm(&s);
}

/*
 * A Plesk host that stores alice's password readable and bob's hashed
 * (hashing switched on between the two): bob's rotate is a pivot for bob
 * alone, said in the plan; the step is no pivot on the host, only alice's
 * old password is kept, and a rollback naming both puts back alice's and
 * says bob's cannot come back.
 */
static void test_plesk_mixed_pivot_per_account(void **state)
{
    struct scratch s;
    struct sim sim;
    struct executor *ex;
    struct playbook *pb = default_playbook();
    struct buf plan = BUF_INIT;
    struct errbuf herr = ERRBUF_INIT, e = ERRBUF_INIT;
    struct strlist named = STRLIST_INIT;
    size_t i_keep, from, i_put;
    char *pa, *pb2;

    (void)state;
    /* bob's 3 messages (8% of the queue) flag him too */
    assert_int_equal(playbook_set_param(pb, "min_messages", "3", &e), 0);
    assert_int_equal(playbook_set_param(pb, "min_share", "0.06", &e), 0);
    scratch_make(&s);
    sim_init(&sim, ACCOUNTS_BACKEND_PLESK);
    sim.hashed = "bob@example.test";
    sim.bad_fetch = true; /* contained: the rotate's undo stays possible */
    ex = sim_exec(&sim);
    assert_int_equal(run_h1(0, ex, pb, &s, true, NULL, &plan, NULL),
                     HOST_DRY_RUN);
    /* a pivot for bob alone (value 0: cannot be put back) */
    assert_null(strstr(plan.data, "pivot="));
    assert_non_null(strstr(plan.data, "  password|bob@example.test|0|plesk\n"));
    assert_non_null(
        strstr(plan.data, "  password|alice@example.test|1|plesk\n"));
    assert_int_equal(run_h1(0, ex, pb, &s, false, NULL, NULL, NULL),
                     HOST_CONTAINED);
    pa = credential(&s, "alice@example.test");
    pb2 = credential(&s, "bob@example.test");
    assert_int_equal(journal_has(&s, "\"kind\":\"pivot\""), 0);
    /* only alice's old password is kept: bob's is a hash */
    assert_int_equal(fake_exec_count_matching(ex, NULL, ">\"$k.tmp\""), 1);
    i_keep = find_cmd(ex, ">\"$k.tmp\"", 0);
    assert_non_null(
        strstr(fake_exec_command(ex, i_keep), "A='alice@example.test'"));
    assert_int_equal(fake_exec_count_matching(ex, NULL, "PSA_PASSWORD"), 2);
    /* rollback naming both: alice's comes back, bob keeps his new one */
    assert_int_equal(strlist_push(&named, "alice@example.test"), 0);
    assert_int_equal(strlist_push(&named, "bob@example.test"), 0);
    rb_accounts = &named;
    rb_restore = true;
    from = fake_exec_count(ex);
    run_h1(1, ex, pb, &s, false, NULL, NULL, &herr);
    rb_accounts = NULL;
    rb_restore = false;
    i_put = find_cmd(ex, "<\"$k\"", from);
    assert_true(i_put != (size_t)-1);
    assert_non_null(
        strstr(fake_exec_command(ex, i_put), "A='alice@example.test'"));
    assert_int_equal(find_cmd(ex, "<\"$k\"", i_put + 1), (size_t)-1);
    assert_non_null(strstr(herr.msg, "the old password of bob@example.test "
                                     "cannot be put back: plesk stores it "
                                     "hashed"));
    assert_nowhere(ex, pa, "PSA_PASSWORD");
    assert_nowhere(ex, pb2, "PSA_PASSWORD");
    free(pa);
    free(pb2);
    strlist_release(&named);
    buf_release(&plan);
    executor_free(ex);
    free(sim.identify);
    playbook_free(pb);
    scratch_rm(&s);
}

/*
 * Plesk's password policy refuses the old (weak) password on the way
 * back: the host needs attention, with Plesk's own words and the account.
 */
static void test_plesk_policy_refusal_on_undo(void **state)
{
    static const char why[] = "An error occurred during mail update: The "
                              "password is too weak (the minimum password "
                              "strength on this server is Medium).\n";
    struct scratch s;
    struct sim sim;
    struct executor *ex;
    struct playbook *pb = default_playbook();
    struct errbuf herr = ERRBUF_INIT;
    struct strlist named = STRLIST_INIT;

    (void)state;
    scratch_make(&s);
    sim_init(&sim, ACCOUNTS_BACKEND_PLESK);
    sim.bad_fetch = true;
    sim.refuse = why;
    ex = sim_exec(&sim);
    assert_int_equal(run_h1(0, ex, pb, &s, false, NULL, NULL, NULL),
                     HOST_CONTAINED);
    assert_int_equal(strlist_push(&named, "alice@example.test"), 0);
    rb_accounts = &named;
    rb_restore = true;
    assert_int_equal(run_h1(1, ex, pb, &s, false, NULL, NULL, &herr),
                     HOST_ATTENTION);
    rb_accounts = NULL;
    rb_restore = false;
    assert_non_null(strstr(herr.msg, "plesk did not take back the old "
                                     "password of 'alice@example.test'"));
    assert_non_null(strstr(herr.msg, "The password is too weak (the minimum "
                                     "password strength on this server is "
                                     "Medium)"));
    strlist_release(&named);
    executor_free(ex);
    free(sim.identify);
    playbook_free(pb);
    scratch_rm(&s);
}

static void test_plesk_secrets_stay_off_the_wire(void **state)
{
    struct scratch s;
    struct sim sim;
    struct executor *ex;
    struct playbook *pb = default_playbook();
    struct audit *audit = NULL;
    struct errbuf e = ERRBUF_INIT;
    char path[160], *trail = NULL, *pw, *pw2;
    size_t i_keep, i_set, from, i_put;
    struct strlist named = STRLIST_INIT;
    struct scratch s2;

    (void)state;
    assert_int_equal(strlist_push(&named, "alice@example.test"), 0);
    scratch_make(&s);
    sim_init(&sim, ACCOUNTS_BACKEND_PLESK);
    ex = sim_exec(&sim);
    snprintf(path, sizeof(path), "%s/audit.jsonl", s.run);
    assert_int_equal(audit_open(&audit, path, "20261128-101500-ab12", &e), 0);
    assert_int_equal(run_h1(0, ex, pb, &s, false, audit, NULL, NULL),
                     HOST_COMMITTED);
    pw = credential(&s, "alice@example.test");
    /* the old password goes from mail_auth_view into a file on the host */
    i_keep = find_cmd(ex, ">\"$k.tmp\"", 0);
    assert_true(i_keep != (size_t)-1);
    assert_non_null(strstr(fake_exec_command(ex, i_keep), "mail_auth_view"));
    i_set = find_cmd(ex, "PSA_PASSWORD", i_keep);
    assert_true(i_set != (size_t)-1);
    assert_non_null(fake_exec_stdin(ex, i_set));
    assert_int_equal(strncmp(fake_exec_stdin(ex, i_set), pw, strlen(pw)), 0);
    assert_nowhere(ex, pw, "PSA_PASSWORD");
    /* the commit destroyed the kept copy: a rollback sends no password */
    assert_true(find_cmd(ex, "rm -rf -- \"$b\"", i_set) != (size_t)-1);
    from = fake_exec_count(ex);
    rb_accounts = &named;
    rb_restore = true;
    assert_int_equal(run_h1(1, ex, pb, &s, false, audit, NULL, NULL),
                     HOST_ROLLED_BACK);
    assert_int_equal(find_cmd(ex, "PSA_PASSWORD", from), (size_t)-1);
    /* contained (the snapshot failed): a plain rollback keeps the new
     * password; only --account with --restore-password sets it back from
     * that file, still on the host */
    scratch_make(&s2);
    sim.bad_fetch = true;
    rb_accounts = NULL;
    rb_restore = false;
    assert_int_equal(run_h1(0, ex, pb, &s2, false, NULL, NULL, NULL),
                     HOST_CONTAINED);
    pw2 = credential(&s2, "alice@example.test");
    from = fake_exec_count(ex);
    assert_int_equal(run_h1(1, ex, pb, &s2, false, NULL, NULL, NULL),
                     HOST_ROLLED_BACK);
    assert_int_equal(find_cmd(ex, "PSA_PASSWORD", from), (size_t)-1);
    assert_true(find_cmd(ex, "postsuper -H -", from) != (size_t)-1);
    from = fake_exec_count(ex);
    rb_accounts = &named;
    rb_restore = true;
    assert_int_equal(run_h1(1, ex, pb, &s2, false, NULL, NULL, NULL),
                     HOST_ROLLED_BACK);
    rb_accounts = NULL;
    rb_restore = false;
    i_put = find_cmd(ex, "PSA_PASSWORD", from);
    assert_true(i_put != (size_t)-1);
    assert_non_null(strstr(fake_exec_command(ex, i_put), "<\"$k\""));
    assert_null(fake_exec_stdin(ex, i_put));
    assert_nowhere(ex, pw2, "PSA_PASSWORD");
    free(pw2);
    scratch_rm(&s2);
    audit_close(audit);
    assert_int_equal(fsio_read_file(&trail, NULL, path, 64u << 20, &e), 0);
    assert_null(strstr(trail, pw));
    assert_non_null(strstr(trail, "\"stdin_secret\":true"));
    free(trail);
    free(pw);
    strlist_release(&named);
    executor_free(ex);
    free(sim.identify);
    playbook_free(pb);
    scratch_rm(&s);
}

/* The logs flag an account the queue does not; --account names one. */
static void test_log_evidence_flags(void **state)
{
    struct scratch s;
    struct sim sim;
    struct executor *ex;
    struct playbook *pb = default_playbook();
    struct errbuf e = ERRBUF_INIT;
    struct buf plan = BUF_INIT, log = BUF_INIT;
    time_t now = time(NULL), then = now - 600;
    char when[32];
    struct tm tm;
    size_t i;

    (void)state;
    scratch_make(&s);
    sim_init(&sim, ACCOUNTS_BACKEND_DOVECOT);
    gmtime_r(&then, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    buf_printf(&log, "now %lld +0000\nsource /var/log/mail.log\n",
               (long long)now);
    for (i = 0; i < 250; i++)
        buf_printf(&log,
                   "A %s L%zu carol@example.test 10.1.%zu.9\n"
                   "S %s L%zu sent\n",
                   when, i, i % 12, when, i);
    buf_adds(&log, "end\n");
    sim.maillog = log.data;
    assert_int_equal(playbook_set_param(pb, "log_hours", "1", &e), 0);
    assert_int_equal(
        playbook_set_param(pb, "accounts", "Dave@Example.test", &e), 0);
    ex = sim_exec(&sim);
    assert_int_equal(run_h1(0, ex, pb, &s, true, NULL, &plan, NULL),
                     HOST_DRY_RUN);
    assert_non_null(plan.data);
    if (strstr(plan.data, "account FLAGGED carol@example.test 2 ") == NULL ||
        strstr(plan.data, "250 submitted in the last 1 h from 12 client "
                          "addresses (250 sent, 0 deferred, 0 bounced); "
                          "flagged on the logs") == NULL ||
        strstr(plan.data, "account FLAGGED dave@example.test 0 ") == NULL ||
        strstr(plan.data, "flagged on the operator's word (named)") == NULL ||
        strstr(plan.data, "  log /var/log/mail.log 500\n") == NULL)
        fail_msg("plan:\n%s", plan.data);
    assert_int_equal(sim.maillog_reads, 1);
    executor_free(ex);
    free(sim.identify);
    buf_release(&plan);
    buf_release(&log);
    playbook_free(pb);
    scratch_rm(&s);
}

static void test_thresholds_from_params(void **state)
{
    struct scratch s;
    struct sim sim;
    struct executor *ex;
    struct playbook *pb = default_playbook();
    struct errbuf e = ERRBUF_INIT;

    (void)state;
    scratch_make(&s);
    sim_init(&sim, ACCOUNTS_BACKEND_DOVECOT);
    ex = sim_exec(&sim);
    /* 30 of 40 is 75%: under 31 messages nobody is flagged */
    assert_int_equal(playbook_set_param(pb, "min_messages", "31", &e), 0);
    assert_int_equal(run_h1(0, ex, pb, &s, false, NULL, NULL, NULL),
                     HOST_COMMITTED);
    /* the survey and its log pass, nothing else */
    assert_int_equal(fake_exec_count(ex), 2);
    assert_int_equal(playbook_set_param(pb, "min_messages", "30", &e), 0);
    assert_int_equal(playbook_set_param(pb, "min_share", "0.76", &e), 0);
    fake_exec_clear_log(ex);
    assert_int_equal(run_h1(0, ex, pb, &s, false, NULL, NULL, NULL),
                     HOST_COMMITTED);
    assert_int_equal(fake_exec_count(ex), 2);
    assert_int_equal(playbook_set_param(pb, "min_share", "x", &e), 0);
    fake_exec_clear_log(ex);
    assert_int_equal(run_h1(0, ex, pb, &s, false, NULL, NULL, NULL),
                     HOST_ROLLED_BACK);
    assert_int_equal(fake_exec_count(ex), 0);
    assert_int_equal(sim.stops, 0);
    executor_free(ex);
    free(sim.identify);
    playbook_free(pb);
    scratch_rm(&s);
}

static void test_cut_identify_output_acts_on_nothing(void **state)
{
    struct scratch s;
    struct sim sim;
    struct executor *ex;
    struct playbook *pb = default_playbook();
    struct errbuf herr = ERRBUF_INIT;
    char *cut;

    (void)state;
    scratch_make(&s);
    sim_init(&sim, ACCOUNTS_BACKEND_DOVECOT);
    cut = replace_all(sim.identify, "*** SPAMSTOP IDENTIFY END ***\n", "");
    free(sim.identify);
    sim.identify = cut;
    ex = sim_exec(&sim);
    assert_int_equal(run_h1(0, ex, pb, &s, false, NULL, NULL, &herr),
                     HOST_ROLLED_BACK);
    assert_non_null(strstr(herr.msg, "no end marker"));
    assert_int_equal(sim.stops, 0);
    executor_free(ex);
    free(sim.identify);
    playbook_free(pb);
    scratch_rm(&s);
}

/*
 * An account the backend does not know: the look says so for that name,
 * the host is rolled back with the name and the file in the reason, and
 * no password is set.
 */
static void test_unknown_account_rolls_back(void **state)
{
    struct scratch s;
    struct sim sim;
    struct executor *ex;
    struct playbook *pb = default_playbook();
    struct errbuf herr = ERRBUF_INIT;

    (void)state;
    scratch_make(&s);
    sim_init(&sim, ACCOUNTS_BACKEND_DOVECOT);
    sim.unknown = true;
    ex = sim_exec(&sim);
    assert_int_equal(run_h1(0, ex, pb, &s, false, NULL, NULL, &herr),
                     HOST_ROLLED_BACK);
    assert_non_null(strstr(herr.msg, "account 'alice@example.test' is not in "
                                     "/etc/dovecot/users"));
    assert_int_equal(fake_exec_count_matching(ex, NULL, "mv -f \"$t\""), 0);
    assert_true(sim.running);
    executor_free(ex);
    free(sim.identify);
    playbook_free(pb);
    scratch_rm(&s);
}

static void test_hostile_account_name_stays_data(void **state)
{
    static const char evil[] = "a';touch${IFS}/tmp/pwned;'$(id)`id`@x";
    struct scratch s;
    struct sim sim;
    struct executor *ex;
    struct playbook *pb = default_playbook();
    char *hostile, *pw;

    (void)state;
    scratch_make(&s);
    sim_init(&sim, ACCOUNTS_BACKEND_DOVECOT);
    hostile = replace_all(sim.identify, "alice@example.test", evil);
    free(sim.identify);
    sim.identify = hostile;
    ex = sim_exec(&sim);
    assert_int_equal(run_h1(0, ex, pb, &s, false, NULL, NULL, NULL),
                     HOST_COMMITTED);
    /* the name travels on stdin only (dovecot backend) */
    assert_nowhere(ex, evil, "");
    pw = credential(&s, evil);
    free(pw);
    executor_free(ex);
    free(sim.identify);
    playbook_free(pb);
    scratch_rm(&s);
}

/* Runs script with /bin/sh in dir (its bin/ first on PATH); stdout's text. */
static char *sh_in(const char *dir, const char *script, const char *in)
{
    struct errbuf e = ERRBUF_INIT;
    char path[256], cmd[1024], *out = NULL;

    snprintf(path, sizeof(path), "%s/script.sh", dir);
    assert_int_equal(fsio_write_atomic(path, script, strlen(script), 0600, &e),
                     0);
    snprintf(path, sizeof(path), "%s/stdin", dir);
    assert_int_equal(fsio_write_atomic(path, in, strlen(in), 0600, &e), 0);
    snprintf(cmd, sizeof(cmd),
             "cd '%s' && PATH='%s/bin':\"$PATH\" sh script.sh <stdin >stdout "
             "2>stderr",
             dir, dir);
    assert_int_equal(system(cmd), 0);
    snprintf(path, sizeof(path), "%s/stdout", dir);
    assert_int_equal(fsio_read_file(&out, NULL, path, 1 << 20, &e), 0);
    return out;
}

/*
 * The real hold and commit scripts on a queue folder: the commit deletes a
 * held file left as it was, and spares one replaced under the same id (a
 * new file, the freed inode possibly reused) and one rewritten in place.
 */
static void test_commit_spares_replaced_files(void **state)
{
    struct scratch s;
    struct errbuf e = ERRBUF_INIT;
    char cmd[1024], *script, *rec, *out, *del = NULL, path[256];

    (void)state;
    scratch_make(&s);
    snprintf(cmd, sizeof(cmd),
             "cd '%s' && mkdir -p bin q/hold q/deferred && "
             "printf '#!/bin/sh\\necho %s/q\\n' >bin/postconf && "
             "printf '#!/bin/sh\\nexit 1\\n' >bin/postfix && "
             "printf '#!/bin/sh\\ncase $1 in -h) cat >/dev/null;; "
             "-d) cat >%s/deleted; echo \"postsuper: Deleted: "
             "$(wc -l <%s/deleted) messages\" >&2;; esac\\n' >bin/postsuper && "
             "chmod 755 bin/* && for f in AAAA11 BBBB22 CCCC33; do "
             "printf 'envelope %%s\\n' $f >q/hold/$f; done",
             s.root, s.root, s.root, s.root);
    assert_int_equal(system(cmd), 0);
    script = postfix_hold_record_command(NULL);
    rec = sh_in(s.root, script, "AAAA11\nBBBB22\nCCCC33\nDDDD44\n");
    free(script);
    /* one record per held file, none for an id that is not there */
    assert_non_null(strstr(rec, "AAAA11 "));
    assert_non_null(strstr(rec, "BBBB22 "));
    assert_non_null(strstr(rec, "CCCC33 "));
    assert_null(strstr(rec, "DDDD44"));
    /* BBBB22 replaced by another file of the same size, CCCC33 rewritten */
    snprintf(cmd, sizeof(cmd),
             "cd '%s/q/hold' && sleep 0.05 && rm BBBB22 && "
             "printf 'envelope XXXX22\\n' >BBBB22 && "
             "printf 'envelope YYYY33\\n' >CCCC33",
             s.root);
    assert_int_equal(system(cmd), 0);
    script = postfix_held_delete_command(NULL);
    out = sh_in(s.root, script, rec);
    assert_string_equal(out, "checked 3 matched 1\n");
    snprintf(path, sizeof(path), "%s/deleted", s.root);
    assert_int_equal(fsio_read_file(&del, NULL, path, 4096, &e), 0);
    assert_string_equal(del, "AAAA11\n");
    free(del);
    free(out);
    /* a record that was not made by the hold is no match either */
    out = sh_in(s.root, script, "AAAA11 1 17 1.5\nAAAA11 x\n");
    assert_string_equal(out, "checked 1 matched 0\n");
    free(out);
    free(script);
    free(rec);
    scratch_rm(&s);
}

static void test_commit_that_leaves_spam_needs_attention(void **state)
{
    struct scratch s;
    struct sim sim;
    struct executor *ex;
    struct playbook *pb = default_playbook();
    struct errbuf herr = ERRBUF_INIT;

    (void)state;
    scratch_make(&s);
    sim_init(&sim, ACCOUNTS_BACKEND_DOVECOT);
    sim.short_delete = true;
    ex = sim_exec(&sim);
    assert_int_equal(run_h1(0, ex, pb, &s, false, NULL, NULL, &herr),
                     HOST_ATTENTION);
    assert_non_null(strstr(herr.msg, "deleted 29 of the 30"));
    executor_free(ex);
    free(sim.identify);
    playbook_free(pb);
    scratch_rm(&s);
}

static void test_cut_evidence_copy_fails_the_snapshot(void **state)
{
    struct scratch s;
    struct sim sim;
    struct executor *ex;
    struct playbook *pb = default_playbook();
    struct errbuf herr = ERRBUF_INIT;
    char path[160];

    (void)state;
    scratch_make(&s);
    sim_init(&sim, ACCOUNTS_BACKEND_DOVECOT);
    sim.bad_fetch = true;
    ex = sim_exec(&sim);
    /* the evidence copy fails after the containment: it stays */
    assert_int_equal(run_h1(0, ex, pb, &s, false, NULL, NULL, &herr),
                     HOST_CONTAINED);
    assert_non_null(
        strstr(herr.msg, "the snapshot exited with status 1: cat: read error"));
    assert_int_equal(fake_exec_count_matching(ex, NULL, "postsuper -h"), 1);
    assert_int_equal(fake_exec_count_matching(ex, NULL, "postsuper -H"), 0);
    assert_int_equal(fake_exec_count_matching(ex, NULL, "postsuper -d"), 0);
    assert_int_equal(fake_exec_count_matching(ex, NULL, "no hash on stdin"), 1);
    snprintf(path, sizeof(path), "%s/evidence/h1/queue.tar", s.run);
    assert_int_not_equal(access(path, F_OK), 0);
    snprintf(path, sizeof(path), "%s/evidence/h1/queue.tar.tmp", s.run);
    assert_int_not_equal(access(path, F_OK), 0);
    assert_true(sim.running);
    executor_free(ex);
    free(sim.identify);
    playbook_free(pb);
    scratch_rm(&s);
}

/* A host whose stop and start print the timer's and the down time's lines. */
struct timer_sim {
    struct sim sim;
    const char *down; /* the start's DOWN line */
};

static int timer_sim_run(void *arg, const char *host,
                         const struct exec_cmd *cmd, struct exec_result *res,
                         struct errbuf *err)
{
    struct timer_sim *ts = arg;
    char out[256];

    if (strstr(cmd->command, "echo \"*** SPAMSTOP TIMER $a ***\"") != NULL) {
        ts->sim.stops++;
        ts->sim.running = false;
        return reply(res, cmd, 0, "postfix\n*** SPAMSTOP TIMER 4242 ***\n",
                     NULL);
    }
    if (strstr(cmd->command, "SPAMSTOP DOWN $a $t start") != NULL) {
        ts->sim.starts++;
        ts->sim.running = true;
        snprintf(out, sizeof(out), "postfix\n%s", ts->down);
        return reply(res, cmd, 0, out, NULL);
    }
    return sim_run(&ts->sim, host, cmd, res, err);
}

/* A step's evidence JSON on h1 (caller frees). */
static char *step_evidence(const struct scratch *s, const char *step)
{
    struct errbuf e = ERRBUF_INIT;
    char path[256], *text = NULL;

    snprintf(path, sizeof(path), "%s/evidence/h1/%s.evidence.json", s->run,
             step);
    assert_int_equal(fsio_read_file(&text, NULL, path, 1 << 20, &e), 0);
    return text;
}

/*
 * The dead-man timer: the plan says the deadline, the stop's command arms
 * the run's timer before it stops Postfix, its name is journaled with the
 * undo and its pid kept as evidence; the start measures how long mail was
 * down, and a hostile down-time line is not believed.
 */
static void test_restart_timer_and_mail_down_time(void **state)
{
    static const char *const downs[] = {
        "*** SPAMSTOP DOWN 975.32 976.25 start ***\n",
        "*** SPAMSTOP DOWN 976.25 -975.32 start ***\n",
    };
    struct scratch s;
    struct timer_sim ts;
    struct executor *ex;
    struct playbook *pb = default_playbook();
    struct buf plan = BUF_INIT;
    char *ev;
    const char *c;
    size_t i, i_stop;

    (void)state;
    for (i = 0; i < 2; i++) {
        scratch_make(&s);
        sim_init(&ts.sim, ACCOUNTS_BACKEND_DOVECOT);
        ts.down = downs[i];
        ex = fake_exec_new();
        fake_exec_set_handler(ex, timer_sim_run, &ts);
        if (i == 0) {
            assert_int_equal(run_h1(0, ex, pb, &s, true, NULL, &plan, NULL),
                             HOST_DRY_RUN);
            assert_non_null(strstr(
                plan.data, "  restart_timer|"
                           "spamstop-restart-20261128-101500-ab12|600|\n"));
            buf_reset(&plan);
        }
        assert_int_equal(run_h1(0, ex, pb, &s, false, NULL, &plan, NULL),
                         HOST_COMMITTED);
        assert_int_equal(ts.sim.stops, 1);
        assert_int_equal(ts.sim.starts, 1);
        i_stop = find_cmd(ex, "SPAMSTOP TIMER", 0);
        assert_true(i_stop != (size_t)-1);
        c = fake_exec_command(ex, i_stop);
        assert_non_null(strstr(c, "u='spamstop-restart-20261128-101500-ab12'"));
        assert_non_null(strstr(c, "ra='600'"));
        assert_true(strstr(c, "setsid") < strstr(c, "postfix abort"));
        /* journaled before the stop: rollback and resume find it */
        assert_int_equal(
            journal_has(&s, "\\\"restart_after\\\":600,\\\"timer\\\":"
                            "\\\"spamstop-restart-20261128-101500-ab12\\\""),
            1);
        ev = step_evidence(&s, "stop");
        assert_non_null(strstr(ev, "\"timer_kind\":\"process\""));
        assert_non_null(strstr(ev, "\"timer_pid\":4242"));
        assert_non_null(strstr(ev, "\"restart_after\":600"));
        free(ev);
        ev = step_evidence(&s, "start");
        if (i == 0) {
            assert_non_null(strstr(ev, "\"mail_down_ms\":930"));
            assert_non_null(strstr(ev, "\"restarted_by\":\"start\""));
            assert_non_null(strstr(plan.data, "  mail_down_ms||930|\n"));
            /* and as data for --json and the recap */
            assert_int_equal(last_mail_down, 930);
        } else {
            assert_int_equal(last_mail_down, -1);
            assert_non_null(strstr(ev, "\"mail_down_ms\":null"));
            assert_null(strstr(plan.data, "mail_down_ms"));
            assert_non_null(strstr(plan.data, "  down_time_unknown|"));
        }
        free(ev);
        buf_reset(&plan);
        executor_free(ex);
        free(ts.sim.identify);
        scratch_rm(&s);
    }
    buf_release(&plan);
    playbook_free(pb);
}

static void test_with_is_checked(void **state)
{
    static const char *const bad[] = {
        "{\"action\":\"service\",\"kind\":\"compensable\","
        "\"with\":{\"state\":\"paused\"}}",
        "{\"action\":\"service\",\"kind\":\"read-only\","
        "\"with\":{\"state\":\"stopped\"}}",
        "{\"action\":\"purge\",\"kind\":\"compensable\",\"with\":{}}",
        "{\"action\":\"purge\",\"kind\":\"compensable\","
        "\"with\":{\"accounts\":\"a b\"}}",
        "{\"action\":\"rotate\",\"kind\":\"compensable\","
        "\"with\":{\"accounts\":\"x\",\"backend\":\"ldap\"}}",
        "{\"action\":\"identify\",\"kind\":\"read-only\","
        "\"with\":{\"min_count\":5}}",
        "{\"action\":\"snapshot\",\"kind\":\"compensable\","
        "\"with\":{\"accounts\":[\"x\"]}}",
    };
    struct playbook *pb = NULL;
    struct errbuf e = ERRBUF_INIT;
    char text[512];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(text, sizeof(text),
                 "{\"name\":\"t\",\"steps\":[{\"name\":\"s\",%s]}", bad[i] + 1);
        assert_int_equal(playbook_parse_string(&pb, text, strlen(text),
                                               "t.json", engine_action_lookup,
                                               &e),
                         SS_EINVAL);
        assert_null(pb);
    }
    pb = default_playbook();
    playbook_free(pb);
}

/*
 * The check after the start refuses the new password (say, a second
 * backend holds another): the host ends contained, not rolled back: the
 * new password and the hold stay, Postfix runs, nothing is released or
 * deleted; the check says which account and why, as data and in words,
 * and its evidence is kept although the step failed.
 */
static void test_verify_refused_stays_contained(void **state)
{
    struct scratch s;
    struct sim sim;
    struct executor *ex;
    struct playbook *pb = default_playbook();
    struct errbuf herr = ERRBUF_INIT, e = ERRBUF_INIT;
    char path[256], *text = NULL, *pw;

    (void)state;
    scratch_make(&s);
    sim_init(&sim, ACCOUNTS_BACKEND_PLESK);
    sim.auth_refuse = "alice@example.test";
    ex = sim_exec(&sim);
    assert_int_equal(run_h1(0, ex, pb, &s, false, NULL, NULL, &herr),
                     HOST_CONTAINED);
    assert_int_equal(sim.auth_checks, 1);
    assert_non_null(strstr(herr.msg, "step 7 'verify': password not "
                                     "confirmed: alice@example.test"));
    assert_non_null(strstr(herr.msg, "kept: rotate, purge"));
    /* nothing undone that contains: no restore, no release, no delete */
    assert_int_equal(
        fake_exec_count_matching(ex, NULL, "plesk bin mail --update"), 1);
    assert_int_equal(fake_exec_count_matching(ex, NULL, "postsuper -H"), 0);
    assert_int_equal(fake_exec_count_matching(ex, NULL, "postsuper -d"), 0);
    assert_true(sim.running);
    assert_int_equal(last_nchecks, 1);
    assert_string_equal(last_checks[0].account, "alice@example.test");
    assert_int_equal(last_checks[0].password, ENGINE_PASSWORD_REFUSED);
    assert_string_equal(last_checks[0].via, "smtp auth on loopback");
    assert_true(engine_check_failed(&last_checks[0]));
    assert_int_equal(last_fact("passwords_not_confirmed"), 1);
    snprintf(path, sizeof(path), "%s/evidence/h1/verify.evidence.json", s.run);
    assert_int_equal(fsio_read_file(&text, NULL, path, 1 << 20, &e), 0);
    assert_non_null(strstr(text, "\"password\":\"refused\""));
    /* the secret went on the check's stdin only */
    pw = credential(&s, "alice@example.test");
    assert_null(strstr(text, pw));
    assert_null(strstr(herr.msg, pw));
    assert_nowhere(ex, pw, "PSA_PASSWORD");
    free(pw);
    free(text);
    executor_free(ex);
    free(sim.identify);
    playbook_free(pb);
    scratch_rm(&s);
}

/* A host that cannot tell (no SASL path) does not confirm either. */
static void test_verify_unknown_is_not_confirmed(void **state)
{
    struct scratch s;
    struct sim sim;
    struct executor *ex;
    struct playbook *pb = default_playbook();
    struct errbuf herr = ERRBUF_INIT;
    struct buf b = BUF_INIT;

    (void)state;
    scratch_make(&s);
    sim_init(&sim, ACCOUNTS_BACKEND_DOVECOT);
    sim.auth_what = "doveadm: Fatal: connect failed";
    ex = sim_exec(&sim);
    assert_int_equal(run_h1(0, ex, pb, &s, false, NULL, NULL, &herr),
                     HOST_CONTAINED);
    assert_int_equal(last_checks[0].password, ENGINE_PASSWORD_UNKNOWN);
    assert_int_equal(engine_check_text(&b, &last_checks[0]), 0);
    assert_string_equal(b.data, "alice@example.test: password NOT confirmed: "
                                "doveadm: Fatal: connect failed");
    assert_non_null(strstr(herr.msg, "doveadm: Fatal: connect failed"));
    assert_int_equal(fake_exec_count_matching(ex, NULL, "postsuper -d"), 0);
    buf_release(&b);
    executor_free(ex);
    free(sim.identify);
    playbook_free(pb);
    scratch_rm(&s);
}

/*
 * Under Cyrus the check tries smtpd's ports on loopback in order (25,
 * 587, 465) and the line names the one that offered AUTH and how (here
 * submission with STARTTLS); an "smtp" line it cannot read leaves the
 * words unspecific; no port offering AUTH is unknown, with each port's
 * reason, and the host stays contained.
 */
static void test_verify_cyrus_names_the_port(void **state)
{
    struct scratch s;
    struct sim sim;
    struct executor *ex;
    struct playbook *pb = default_playbook();
    struct errbuf herr = ERRBUF_INIT;
    struct buf b = BUF_INIT;
    size_t i;

    (void)state;
    scratch_make(&s);
    sim_init(&sim, ACCOUNTS_BACKEND_PLESK);
    sim.auth_smtp = "smtp 587 starttls";
    ex = sim_exec(&sim);
    assert_int_equal(run_h1(0, ex, pb, &s, false, NULL, NULL, &herr),
                     HOST_COMMITTED);
    i = find_cmd(ex, "doveadm auth test", 0);
    assert_true(i != (size_t)-1);
    assert_true(strncmp(fake_exec_command(ex, i), "ports='25 587 465'\n", 19) ==
                0);
    assert_int_equal(last_checks[0].password, ENGINE_PASSWORD_CONFIRMED);
    assert_int_equal(engine_check_text(&b, &last_checks[0]), 0);
    assert_string_equal(b.data, "alice@example.test: password confirmed "
                                "(smtp auth on 127.0.0.1:587 with STARTTLS)");
    executor_free(ex);
    scratch_rm(&s);

    scratch_make(&s);
    sim.auth_smtp = "smtp 465 ssl";
    ex = sim_exec(&sim);
    assert_int_equal(run_h1(0, ex, pb, &s, false, NULL, NULL, &herr),
                     HOST_COMMITTED);
    assert_string_equal(last_checks[0].via, "smtp auth on loopback");
    executor_free(ex);
    scratch_rm(&s);

    scratch_make(&s);
    sim.auth_smtp = NULL;
    sim.auth_what = "smtpd offers no AUTH on 127.0.0.1 (25: no AUTH; 587: "
                    "no AUTH after STARTTLS; 465: no smtp greeting over TLS)";
    ex = sim_exec(&sim);
    assert_int_equal(run_h1(0, ex, pb, &s, false, NULL, NULL, &herr),
                     HOST_CONTAINED);
    assert_int_equal(last_checks[0].password, ENGINE_PASSWORD_UNKNOWN);
    assert_string_equal(last_checks[0].why, sim.auth_what);
    assert_non_null(strstr(herr.msg, "password not confirmed: "
                                     "alice@example.test: password NOT "
                                     "confirmed: smtpd offers no AUTH on "
                                     "127.0.0.1 (25: no AUTH;"));
    assert_int_equal(fake_exec_count_matching(ex, NULL, "postsuper -d"), 0);
    buf_release(&b);
    executor_free(ex);
    free(sim.identify);
    playbook_free(pb);
    scratch_rm(&s);
}

/*
 * With a watch: the password confirmed, the log read for logins since
 * the rotation's host time (the eviction's clock): none, the host
 * commits and the line says so; a login after the rotation makes the
 * host contained and names its time and address; one before it does not
 * count.
 */
static void test_verify_watch(void **state)
{
    struct scratch s;
    struct sim sim;
    struct executor *ex;
    struct playbook *pb = default_playbook();
    struct errbuf herr = ERRBUF_INIT, e = ERRBUF_INIT;
    struct buf b = BUF_INIT;
    size_t i;

    (void)state;
    scratch_make(&s);
    sim_init(&sim, ACCOUNTS_BACKEND_DOVECOT);
    sim.evict = "now 1796458800\ncache flushed\nkicked alice@example.test 1\n";
    sim.logins = "now 1796458862 +0000\nsource /var/log/mail.log\n"
                 "L 2026-12-05T08:19:00+00:00 imap alice@example.test "
                 "10.9.9.9\nend\n";
    assert_int_equal(playbook_set_param(pb, "watch_seconds", "1", &e), 0);
    ex = sim_exec(&sim);
    assert_int_equal(run_h1(0, ex, pb, &s, false, NULL, NULL, &herr),
                     HOST_COMMITTED);
    i = find_cmd(ex, "Login: user=<", 0);
    assert_true(i != (size_t)-1);
    assert_non_null(strstr(fake_exec_command(ex, i), "since='1796458800'"));
    assert_string_equal(fake_exec_stdin(ex, i), "alice@example.test\n");
    assert_int_equal(last_checks[0].password, ENGINE_PASSWORD_CONFIRMED);
    assert_int_equal(last_checks[0].logins, 0);
    assert_int_equal(last_checks[0].watched_s, 1);
    assert_int_equal(last_fact("logins_after_rotation"), 0);
    assert_int_equal(engine_check_text(&b, &last_checks[0]), 0);
    assert_string_equal(b.data, "alice@example.test: password confirmed "
                                "(doveadm auth test); no login of "
                                "alice@example.test since 08:20:00 UTC, "
                                "watched 1 s");
    executor_free(ex);
    scratch_rm(&s);

    /* a login after the rotation: contained, with when and from where */
    scratch_make(&s);
    sim.logins = "now 1796458862 +0000\nsource /var/log/mail.log\n"
                 "L 2026-12-05T08:20:30+00:00 smtp alice@example.test "
                 "203.0.113.5\nL 2026-12-05T08:20:40+00:00 imap "
                 "alice@example.test 203.0.113.6\nend\n";
    ex = sim_exec(&sim);
    assert_int_equal(run_h1(0, ex, pb, &s, false, NULL, NULL, &herr),
                     HOST_CONTAINED);
    assert_int_equal(last_checks[0].logins, 2);
    assert_non_null(strstr(herr.msg, "login seen: alice@example.test: "
                                     "password confirmed (doveadm auth "
                                     "test); 2 LOGINS of alice@example.test "
                                     "since 08:20:00 UTC (first at 08:20:30 "
                                     "UTC from 203.0.113.5), watched 1 s"));
    assert_int_equal(fake_exec_count_matching(ex, NULL, "postsuper -d"), 0);
    buf_release(&b);
    executor_free(ex);
    free(sim.identify);
    playbook_free(pb);
    scratch_rm(&s);
}

/* The watch time: digits, at most an hour; anything else is refused. */
static void test_watch_parse(void **state)
{
    struct errbuf e = ERRBUF_INIT;
    long long v = -1;

    (void)state;
    assert_int_equal(engine_watch_parse(&v, "60", &e), 0);
    assert_int_equal(v, 60);
    assert_int_equal(engine_watch_parse(&v, "0", &e), 0);
    assert_int_equal(v, 0);
    assert_int_equal(engine_watch_parse(&v, "3600", &e), 0);
    assert_int_equal(engine_watch_parse(&v, "3601", &e), SS_EINVAL);
    assert_non_null(strstr(e.msg, "seconds from 0 to 3600"));
    assert_int_equal(engine_watch_parse(&v, "99999999999999999999", &e),
                     SS_EINVAL);
    assert_int_equal(engine_watch_parse(&v, "-1", &e), SS_EINVAL);
    assert_int_equal(engine_watch_parse(&v, "1m", &e), SS_EINVAL);
    assert_int_equal(engine_watch_parse(&v, "", &e), SS_EINVAL);
}

/* A bad watch time fails the run before anything changes (the survey). */
static void test_bad_watch_in_the_plan(void **state)
{
    struct scratch s;
    struct sim sim;
    struct executor *ex;
    struct playbook *pb = default_playbook();
    struct errbuf e = ERRBUF_INIT;
    struct buf plan = BUF_INIT;

    (void)state;
    scratch_make(&s);
    sim_init(&sim, ACCOUNTS_BACKEND_DOVECOT);
    assert_int_equal(playbook_set_param(pb, "watch_seconds", "7200", &e), 0);
    ex = sim_exec(&sim);
    assert_int_equal(run_h1(0, ex, pb, &s, true, NULL, &plan, NULL),
                     HOST_DRY_RUN);
    assert_non_null(strstr(plan.data, "bad watch time '7200'"));
    buf_release(&plan);
    executor_free(ex);
    free(sim.identify);
    playbook_free(pb);
    scratch_rm(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dovecot_host_end_to_end),
        cmocka_unit_test(test_identify_reuses_the_survey),
        cmocka_unit_test(test_host_memos_save_commands),
        cmocka_unit_test(test_dry_run_changes_nothing),
        cmocka_unit_test(test_failed_start_stays_contained),
        cmocka_unit_test(test_rollback_after_commit),
        cmocka_unit_test(test_purge_data_of_an_older_run),
        cmocka_unit_test(test_plesk_hashed_is_a_pivot_in_the_plan),
        cmocka_unit_test(test_plesk_pivot_finishes_forward),
        cmocka_unit_test(test_evidence_in_the_audit_trail),
        cmocka_unit_test(test_plesk_secrets_stay_off_the_wire),
        cmocka_unit_test(test_plesk_mixed_pivot_per_account),
        cmocka_unit_test(test_plesk_policy_refusal_on_undo),
        cmocka_unit_test(test_thresholds_from_params),
        cmocka_unit_test(test_log_evidence_flags),
        cmocka_unit_test(test_cut_identify_output_acts_on_nothing),
        cmocka_unit_test(test_unknown_account_rolls_back),
        cmocka_unit_test(test_hostile_account_name_stays_data),
        cmocka_unit_test(test_commit_that_leaves_spam_needs_attention),
        cmocka_unit_test(test_commit_spares_replaced_files),
        cmocka_unit_test(test_cut_evidence_copy_fails_the_snapshot),
        cmocka_unit_test(test_with_is_checked),
        cmocka_unit_test(test_restart_timer_and_mail_down_time),
        cmocka_unit_test(test_verify_refused_stays_contained),
        cmocka_unit_test(test_verify_unknown_is_not_confirmed),
        cmocka_unit_test(test_verify_cyrus_names_the_port),
        cmocka_unit_test(test_verify_watch),
        cmocka_unit_test(test_watch_parse),
        cmocka_unit_test(test_bad_watch_in_the_plan),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
