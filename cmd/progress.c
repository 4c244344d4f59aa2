/* The terminal view of a run: live per-host lines, the recap, syslog. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "progress.h"
#include "spamstop/error.h"

#define COLOR_RED    "\033[31m"
#define COLOR_GREEN  "\033[32m"
#define COLOR_YELLOW "\033[33m"
#define COLOR_CYAN   "\033[36m"
#define COLOR_DIM    "\033[2m"
#define COLOR_BOLD   "\033[1m"
#define COLOR_OFF    "\033[0m"

/* What the view knows of one host. */
struct progress_host {
    char *name;
    char step[64];  /* current step, cleaned */
    char phase[16]; /* "", "undo", "commit", "uncommit" */
    char state[24]; /* "" while the host is not finished */
    int step_no;    /* 1-based index of step, 0 when unknown */
    struct timespec start, end;
    bool started, ended;
    unsigned ok, changed, failed, skipped;
};

struct progress {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t ticker;
    bool ticking, stopping;
    FILE *f;
    bool live, color, dry_run;
    const struct playbook *pb;
    struct progress_host *h;
    size_t n;
    size_t drawn; /* lines of the last drawing */
    struct timespec last_draw;
    volatile sig_atomic_t *stop; /* set by the first SIGINT; may be NULL */
};

static bool syslog_on;

bool progress_want_color(int fd)
{
    const char *term = getenv("TERM");

    if (getenv("NO_COLOR") != NULL)
        return false;
    return isatty(fd) && term != NULL && *term != '\0' &&
           strcmp(term, "dumb") != 0;
}

bool progress_want_live(int fd)
{
    const char *term = getenv("TERM");

    return isatty(fd) && term != NULL && *term != '\0' &&
           strcmp(term, "dumb") != 0;
}

void progress_clean(char *out, size_t size, const char *s)
{
    size_t i = 0;

    for (; s != NULL && *s != '\0' && i + 1 < size; s++) {
        unsigned char ch = (unsigned char)*s;
        out[i++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
    }
    out[i] = '\0';
}

/* Milliseconds from a to b. */
static long ms_between(const struct timespec *a, const struct timespec *b)
{
    return (long)(b->tv_sec - a->tv_sec) * 1000 +
           (b->tv_nsec - a->tv_nsec) / 1000000;
}

int progress_new(struct progress **out, FILE *f, const char *const *hosts,
                 size_t n, const struct playbook *pb, bool live, bool color)
{
    struct progress *p;
    size_t i;
    int r = SS_ERR;

    *out = NULL;
    if ((p = calloc(1, sizeof(*p))) == NULL)
        return SS_ERR;
    if ((p->h = calloc(n + 1, sizeof(*p->h))) == NULL)
        goto out;
    p->n = n;
    for (i = 0; i < n; i++)
        if ((p->h[i].name = strdup(hosts[i])) == NULL)
            goto out;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    p->f = f;
    p->pb = pb;
    p->live = live;
    p->color = color;
    *out = p;
    p = NULL;
    r = 0;
out:
    if (p != NULL) {
        for (i = 0; p->h != NULL && i < n; i++)
            free(p->h[i].name);
        free(p->h);
        free(p);
    }
    return r;
}

void progress_reset(struct progress *p, bool dry_run)
{
    size_t i;
    char *name;

    pthread_mutex_lock(&p->lock);
    for (i = 0; i < p->n; i++) {
        name = p->h[i].name;
        memset(&p->h[i], 0, sizeof(p->h[i]));
        p->h[i].name = name;
    }
    p->dry_run = dry_run;
    p->drawn = 0;
    pthread_mutex_unlock(&p->lock);
}

const char *progress_state_color(const char *state)
{
    if (strcmp(state, "committed") == 0)
        return COLOR_GREEN;
    if (strcmp(state, "dry-run") == 0)
        return COLOR_CYAN;
    if (strcmp(state, "rolled-back") == 0 || strcmp(state, "skipped") == 0 ||
        strcmp(state, "contained") == 0)
        return COLOR_YELLOW;
    if (strcmp(state, "nothing-to-do") == 0 || strcmp(state, "clean") == 0)
        return COLOR_DIM;
    return COLOR_RED;
}

/* Terminal width of p->f's terminal (80 when unknown). */
static int term_cols(FILE *f, int *rows)
{
    struct winsize ws;

    *rows = 24;
    if (ioctl(fileno(f), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
        if (ws.ws_row > 0)
            *rows = ws.ws_row;
        return ws.ws_col;
    }
    return 80;
}

/* Formats one host's line (without colour) into line. */
static void host_line(char *line, size_t size, const struct progress *p,
                      const struct progress_host *h, const struct timespec *now)
{
    char where[128];
    const char *status;
    long ms;

    if (!h->started && !h->ended) {
        snprintf(line, size, "%-20.20s %-15s", h->name, "waiting");
        return;
    }
    ms = ms_between(&h->start, h->ended ? &h->end : now);
    status = h->ended ? h->state : "running";
    if (h->ended)
        snprintf(where, sizeof(where), "%u ok, %u changed, %u failed", h->ok,
                 h->changed, h->failed);
    else if (h->step[0] == '\0')
        snprintf(where, sizeof(where), "connecting");
    else if (h->step_no > 0)
        snprintf(where, sizeof(where), "step %d/%zu %s%s%s", h->step_no,
                 p->pb != NULL ? p->pb->nsteps : 0, h->step,
                 h->phase[0] ? " " : "", h->phase);
    else
        snprintf(where, sizeof(where), "%s%s%s", h->step,
                 h->phase[0] ? " " : "", h->phase);
    snprintf(line, size, "%-20.20s %-15s %-40.40s %5ld.%lds", h->name, status,
             where, ms / 1000, (ms % 1000) / 100);
}

/* Redraws every host's line in place (p->lock held). */
static void draw(struct progress *p)
{
    char line[256];
    struct timespec now;
    size_t i, shown = 0, limit;
    int rows, cols = term_cols(p->f, &rows);
    size_t len;

    clock_gettime(CLOCK_MONOTONIC, &now);
    p->last_draw = now;
    if (p->drawn > 0)
        fprintf(p->f, "\r\033[%zuA", p->drawn);
    limit = rows > 3 ? (size_t)rows - 2 : 1;
    for (i = 0; i < p->n && shown < limit; i++) {
        const struct progress_host *h = &p->h[i];
        /* too many hosts for the screen: leave out the finished ones */
        if (p->n > limit && h->ended && p->n - i > limit - shown)
            continue;
        host_line(line, sizeof(line), p, h, &now);
        len = strlen(line);
        if (cols > 1 && len > (size_t)cols - 1)
            line[cols - 1] = '\0';
        if (p->color && h->ended)
            fprintf(p->f, "\r\033[K%s%s%s\n", progress_state_color(h->state),
                    line, COLOR_OFF);
        else if (p->color && h->started)
            fprintf(p->f, "\r\033[K" COLOR_BOLD "%s" COLOR_OFF "\n", line);
        else
            fprintf(p->f, "\r\033[K%s\n", line);
        shown++;
    }
    if (p->stop != NULL && *p->stop) {
        /* the signal handler's own line is drawn over: say it here */
        fprintf(p->f,
                "\r\033[K%sinterrupted: no new step starts; hosts in "
                "flight are brought to a safe state (interrupt again "
                "to leave at once)%s\n",
                p->color ? COLOR_BOLD : "", p->color ? COLOR_OFF : "");
        shown++;
    }
    fputs("\033[J", p->f);
    fflush(p->f);
    p->drawn = shown;
}

void progress_watch_stop(struct progress *p, volatile sig_atomic_t *stop)
{
    pthread_mutex_lock(&p->lock);
    p->stop = stop;
    pthread_mutex_unlock(&p->lock);
}

/* Ticker thread: redraws a few times a second until progress_stop. */
static void *tick(void *arg)
{
    struct progress *p = arg;
    struct timespec until;

    pthread_mutex_lock(&p->lock);
    while (!p->stopping) {
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 250 * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        if (pthread_cond_timedwait(&p->wake, &p->lock, &until) == ETIMEDOUT &&
            !p->stopping)
            draw(p);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

void progress_start(struct progress *p)
{
    if (!p->live)
        return;
    pthread_mutex_lock(&p->lock);
    p->stopping = false;
    draw(p);
    pthread_mutex_unlock(&p->lock);
    p->ticking = pthread_create(&p->ticker, NULL, tick, p) == 0;
}

void progress_stop(struct progress *p)
{
    if (!p->live)
        return;
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    if (p->ticking)
        pthread_join(p->ticker, NULL);
    p->ticking = false;
    pthread_mutex_lock(&p->lock);
    draw(p);
    p->drawn = 0;
    pthread_mutex_unlock(&p->lock);
}

/* The step's 1-based number and kind in the playbook (0 when unknown). */
static int step_number(const struct playbook *pb, const char *name,
                       enum step_kind *kind)
{
    size_t i;

    *kind = STEP_READ_ONLY;
    for (i = 0; pb != NULL && name != NULL && i < pb->nsteps; i++)
        if (strcmp(pb->steps[i].name, name) == 0) {
            *kind = pb->steps[i].kind;
            return (int)i + 1;
        }
    return 0;
}

/* Whether what (an engine event word) ends with "failed". */
static bool is_failure(const char *what)
{
    size_t n = strlen(what);

    return n >= 6 && strcmp(what + n - 6, "failed") == 0;
}

/* Updates the host's counters and current step for ev (p->lock held). */
static void account(struct progress *p, struct progress_host *h,
                    const struct engine_event *ev)
{
    enum step_kind kind;
    const char *w = ev->what;
    size_t k;

    if (!h->started) {
        h->started = true;
        clock_gettime(CLOCK_MONOTONIC, &h->start);
    }
    if (strcmp(w, "state") == 0) {
        h->ended = true;
        clock_gettime(CLOCK_MONOTONIC, &h->end);
        progress_clean(h->state, sizeof(h->state),
                       ev->detail != NULL ? ev->detail : "?");
        k = strcspn(h->state, ":");
        h->state[k] = '\0';
        return;
    }
    if (ev->step == NULL)
        return;
    progress_clean(h->step, sizeof(h->step), ev->step);
    h->step_no = step_number(p->pb, ev->step, &kind);
    h->phase[0] = '\0';
    if (strncmp(w, "undo", 4) == 0)
        snprintf(h->phase, sizeof(h->phase), "undo");
    else if (strncmp(w, "uncommit", 8) == 0)
        snprintf(h->phase, sizeof(h->phase), "uncommit");
    else if (strncmp(w, "commit", 6) == 0)
        snprintf(h->phase, sizeof(h->phase), "commit");
    if (is_failure(w))
        h->failed++;
    else if (strcmp(w, "skipped") == 0)
        h->skipped++;
    else if (strcmp(w, "done") == 0) {
        h->ok++;
        if (kind != STEP_READ_ONLY && !p->dry_run)
            h->changed++;
    } else if (strcmp(w, "undone") == 0 || strcmp(w, "uncommitted") == 0)
        h->changed++;
}

void progress_event(struct progress *p, const struct engine_event *ev)
{
    struct timespec now;
    size_t i;

    pthread_mutex_lock(&p->lock);
    for (i = 0; i < p->n; i++) {
        if (strcmp(p->h[i].name, ev->host) != 0)
            continue;
        account(p, &p->h[i], ev);
        break;
    }
    if (p->live && !p->stopping) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (strcmp(ev->what, "state") == 0 ||
            ms_between(&p->last_draw, &now) >= PROGRESS_REDRAW_MS)
            draw(p);
    }
    pthread_mutex_unlock(&p->lock);
}

void progress_free(struct progress *p)
{
    size_t i;

    if (p == NULL)
        return;
    for (i = 0; i < p->n; i++)
        free(p->h[i].name);
    free(p->h);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

void progress_syslog_open(void)
{
    openlog("spamstop", LOG_PID, LOG_AUTHPRIV);
    syslog_on = true;
}

void progress_syslog_event(const char *run_id, const struct engine_event *ev)
{
    char host[128], step[96], detail[160];
    const char *w = ev->what;
    bool fail = is_failure(w);

    if (!syslog_on)
        return;
    if (strcmp(w, "state") != 0 && strcmp(w, "done") != 0 && !fail &&
        strcmp(w, "skipped") != 0 && strcmp(w, "undone") != 0 &&
        strcmp(w, "committed") != 0 && strcmp(w, "uncommitted") != 0 &&
        strcmp(w, "connected") != 0)
        return;
    progress_clean(host, sizeof(host), ev->host);
    progress_clean(step, sizeof(step), ev->step != NULL ? ev->step : "-");
    progress_clean(detail, sizeof(detail),
                   ev->detail != NULL ? ev->detail : "");
    if (strcmp(w, "state") == 0)
        syslog(LOG_NOTICE, "run=%s host=%s host-end state=%s", run_id, host,
               detail);
    else if (strcmp(w, "connected") == 0)
        syslog(LOG_INFO, "run=%s host=%s connected key=%s", run_id, host,
               detail);
    else
        syslog(fail ? LOG_WARNING : LOG_INFO,
               "run=%s host=%s step=%s result=%s%s%s", run_id, host, step, w,
               fail && detail[0] ? " why=" : "", fail ? detail : "");
}

void progress_syslog_run(const char *run_id, const char *what,
                         const char *outcome, int exit_code)
{
    if (!syslog_on)
        return;
    if (outcome == NULL)
        syslog(LOG_NOTICE, "run=%s %s start", run_id, what);
    else
        syslog(LOG_NOTICE, "run=%s %s end outcome=%s exit=%d", run_id, what,
               outcome, exit_code);
}

void progress_syslog_close(void)
{
    if (syslog_on)
        closelog();
    syslog_on = false;
}
