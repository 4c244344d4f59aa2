/* Run folders under the state folder, and their run.json. */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include "spamstop/digest.h"
#include "spamstop/fsio.h"
#include "spamstop/rundir.h"

#define RUN_JSON_MAX (4u * 1024 * 1024)

void run_info_init(struct run_info *ri)
{
    memset(ri, 0, sizeof(*ri));
}

/* Frees n targets and the array; NULL-safe. */
static void targets_free(struct exec_target *t, size_t n)
{
    size_t i;

    for (i = 0; t != NULL && i < n; i++)
        exec_target_release(&t[i]);
    free(t);
}

int run_info_set_targets(struct run_info *ri, const struct exec_target *t,
                         size_t n)
{
    struct exec_target *copy;
    size_t i;

    if (n != ri->hosts.n)
        return SS_EINVAL;
    if ((copy = calloc(n + 1, sizeof(*copy))) == NULL)
        return SS_ERR;
    for (i = 0; i < n; i++) {
        if (exec_target_copy(&copy[i], &t[i]) < 0) {
            targets_free(copy, i);
            return SS_ERR;
        }
    }
    targets_free(ri->targets, ri->hosts.n);
    ri->targets = copy;
    return 0;
}

void run_info_release(struct run_info *ri)
{
    if (ri == NULL)
        return;
    targets_free(ri->targets, ri->hosts.n);
    free(ri->playbook);
    free(ri->outcome);
    strlist_release(&ri->hosts);
    strlist_release(&ri->host_states);
    strlist_release(&ri->param_names);
    strlist_release(&ri->param_values);
    run_info_init(ri);
}

void rundir_free(struct rundir *rd)
{
    if (rd == NULL)
        return;
    free(rd->state_dir);
    free(rd->path);
    free(rd->lock_dir);
    run_info_release(&rd->info);
    free(rd);
}

bool rundir_valid_id(const char *id)
{
    size_t n = strlen(id);

    return n > 0 && n < RUNDIR_ID_MAX && id[0] != '-' &&
           strspn(id, "0123456789abcdefghijklmnopqrstuvwxyz-") == n;
}

/* Formats t as 2026-11-28T09:15:00Z. */
static void iso_time(char *out, size_t size, time_t t)
{
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Parses what iso_time wrote; 0 when it cannot. */
static time_t parse_time(const char *s)
{
    struct tm tm;
    char z = 0;

    memset(&tm, 0, sizeof(tm));
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%c", &tm.tm_year, &tm.tm_mon,
               &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &z) != 7 ||
        z != 'Z')
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return timegm(&tm);
}

/* A JSON array of the strings of l. */
static json_t *list_json(const struct strlist *l)
{
    json_t *a = json_array();
    size_t i;

    for (i = 0; a != NULL && i < l->n; i++)
        if (json_array_append_new(a, json_string(l->v[i])) < 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

/* {"host": {"address", "port", "user", "become"}} for the set fields. */
static json_t *targets_json(const struct run_info *ri)
{
    json_t *o = json_object(), *t;
    size_t i;
    int bad = o == NULL;

    for (i = 0; !bad && i < ri->hosts.n; i++) {
        const struct exec_target *x = &ri->targets[i];

        if ((t = json_object()) == NULL) {
            bad = 1;
            break;
        }
        if (x->address != NULL)
            bad |= json_object_set_new(t, "address", json_string(x->address));
        if (x->port > 0)
            bad |= json_object_set_new(t, "port", json_integer(x->port));
        if (x->user != NULL)
            bad |= json_object_set_new(t, "user", json_string(x->user));
        if (x->become)
            bad |= json_object_set_new(t, "become", json_true());
        bad |= json_object_set_new(o, ri->hosts.v[i], t);
    }
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* Reads "targets" (optional) of run.json into ri; -1 when malformed. */
static int targets_take(struct run_info *ri, json_t *o)
{
    json_t *all = json_object_get(o, "targets"), *t, *v;
    size_t i;

    if (all == NULL)
        return 0;
    if (!json_is_object(all) ||
        (ri->targets = calloc(ri->hosts.n + 1, sizeof(*ri->targets))) == NULL)
        return -1;
    for (i = 0; i < ri->hosts.n; i++) {
        struct exec_target *x = &ri->targets[i];

        if ((x->name = strdup(ri->hosts.v[i])) == NULL)
            return -1;
        if ((t = json_object_get(all, ri->hosts.v[i])) == NULL)
            continue;
        if (!json_is_object(t))
            return -1;
        if ((v = json_object_get(t, "address")) != NULL &&
            (!json_is_string(v) ||
             (x->address = strdup(json_string_value(v))) == NULL))
            return -1;
        if ((v = json_object_get(t, "user")) != NULL &&
            (!json_is_string(v) ||
             (x->user = strdup(json_string_value(v))) == NULL))
            return -1;
        if ((v = json_object_get(t, "port")) != NULL) {
            if (!json_is_integer(v) || json_integer_value(v) < 1 ||
                json_integer_value(v) > 65535)
                return -1;
            x->port = (int)json_integer_value(v);
        }
        x->become = json_is_true(json_object_get(t, "become"));
    }
    return 0;
}

int rundir_save(struct rundir *rd, struct errbuf *err)
{
    const struct run_info *ri = &rd->info;
    json_t *o = json_object(), *states = json_object(), *params = json_object();
    char t[32], path[4096];
    char *text = NULL;
    size_t i;
    int bad = 0, r = SS_ERR;

    if (o == NULL || states == NULL || params == NULL)
        goto out;
    bad |= json_object_set_new(o, "run_id", json_string(ri->run_id));
    iso_time(t, sizeof(t), ri->started);
    bad |= json_object_set_new(o, "started", json_string(t));
    if (ri->finished != 0)
        iso_time(t, sizeof(t), ri->finished);
    bad |= json_object_set_new(
        o, "finished", ri->finished != 0 ? json_string(t) : json_null());
    bad |= json_object_set_new(o, "playbook", json_string(ri->playbook));
    bad |= json_object_set_new(o, "playbook_sha256",
                               json_string(ri->playbook_sha256));
    bad |= json_object_set_new(o, "hosts", list_json(&ri->hosts));
    bad |= json_object_set_new(o, "dry_run", json_boolean(ri->dry_run));
    bad |= json_object_set_new(o, "outcome", json_string(ri->outcome));
    for (i = 0; i < ri->hosts.n && i < ri->host_states.n; i++)
        bad |= json_object_set_new(states, ri->hosts.v[i],
                                   json_string(ri->host_states.v[i]));
    for (i = 0; i < ri->param_names.n; i++)
        bad |= json_object_set_new(params, ri->param_names.v[i],
                                   json_string(ri->param_values.v[i]));
    bad |= json_object_set(o, "host_states", states);
    bad |= json_object_set(o, "params", params);
    if (ri->targets != NULL)
        bad |= json_object_set_new(o, "targets", targets_json(ri));
    if (ri->audit_records > 0) {
        bad |= json_object_set_new(o, "audit_records",
                                   json_integer((json_int_t)ri->audit_records));
        bad |= json_object_set_new(o, "audit_head",
                                   ri->audit_head[0] != '\0'
                                       ? json_string(ri->audit_head)
                                       : json_null());
    }
    if (bad ||
        (text = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS)) == NULL) {
        errbuf_set(err, SS_ERR, "cannot encode run.json");
        goto out;
    }
    snprintf(path, sizeof(path), "%s/run.json", rd->path);
    r = fsio_write_atomic(path, text, strlen(text), 0600, err);
out:
    if (r < 0 && err != NULL && err->code == 0)
        errbuf_set(err, SS_ERR, "out of memory writing run.json");
    free(text);
    json_decref(o);
    json_decref(states);
    json_decref(params);
    return r;
}

/* Copies the strings of JSON array a into l. */
static int list_take(struct strlist *l, json_t *a)
{
    json_t *v;
    size_t i;

    if (!json_is_array(a))
        return -1;
    json_array_foreach(a, i, v)
    {
        if (!json_is_string(v) || strlist_push(l, json_string_value(v)) < 0)
            return -1;
    }
    return 0;
}

int run_info_parse(struct run_info *out, const char *text, size_t len,
                   struct errbuf *err)
{
    json_t *o = NULL, *v, *states, *params;
    const char *key;
    size_t i;
    int r = SS_ECORRUPT;

    run_info_init(out);
    o = json_loadb(text, len, 0, NULL);
    if (!json_is_object(o))
        goto bad;
    v = json_object_get(o, "run_id");
    if (!json_is_string(v) || strlen(json_string_value(v)) >= RUNDIR_ID_MAX)
        goto bad;
    strcpy(out->run_id, json_string_value(v));
    v = json_object_get(o, "started");
    out->started = json_is_string(v) ? parse_time(json_string_value(v)) : 0;
    v = json_object_get(o, "finished");
    out->finished = json_is_string(v) ? parse_time(json_string_value(v)) : 0;
    v = json_object_get(o, "playbook");
    if (!json_is_string(v) ||
        (out->playbook = strdup(json_string_value(v))) == NULL)
        goto bad;
    v = json_object_get(o, "playbook_sha256");
    if (!json_is_string(v) || strlen(json_string_value(v)) != SHA256_HEX_LEN)
        goto bad;
    strcpy(out->playbook_sha256, json_string_value(v));
    if (list_take(&out->hosts, json_object_get(o, "hosts")) < 0)
        goto bad;
    out->dry_run = json_is_true(json_object_get(o, "dry_run"));
    v = json_object_get(o, "outcome");
    if (!json_is_string(v) ||
        (out->outcome = strdup(json_string_value(v))) == NULL)
        goto bad;
    states = json_object_get(o, "host_states");
    for (i = 0; i < out->hosts.n; i++) {
        v = json_object_get(states, out->hosts.v[i]);
        if (strlist_push(&out->host_states,
                         json_is_string(v) ? json_string_value(v) : "pending") <
            0)
            goto bad;
    }
    params = json_object_get(o, "params");
    json_object_foreach(params, key, v)
    {
        if (!json_is_string(v) || strlist_push(&out->param_names, key) < 0 ||
            strlist_push(&out->param_values, json_string_value(v)) < 0)
            goto bad;
    }
    if (targets_take(out, o) < 0)
        goto bad;
    v = json_object_get(o, "audit_records");
    if (json_is_integer(v) && json_integer_value(v) > 0)
        out->audit_records = (uint64_t)json_integer_value(v);
    v = json_object_get(o, "audit_head");
    if (json_is_string(v) && strlen(json_string_value(v)) == SHA256_HEX_LEN)
        strcpy(out->audit_head, json_string_value(v));
    json_decref(o);
    return 0;
bad:
    json_decref(o);
    run_info_release(out);
    return errbuf_set(err, r, "run.json is damaged");
}

/* Checks the state folder, creating it (0700) when missing. */
static int state_dir_ready(const char *state_dir, struct errbuf *err)
{
    struct stat st;
    int r;

    if (stat(state_dir, &st) < 0 && errno == ENOENT &&
        (r = fsio_mkdirs(state_dir, 0700, err)) < 0)
        return r;
    return fsio_check_private_dir(state_dir, err);
}

/* Fills the paths of rd for run id. */
static int rundir_paths(struct rundir *rd, const char *state_dir,
                        const char *id, struct errbuf *err)
{
    size_t n = strlen(state_dir) + strlen(id) + 32;

    rd->state_dir = strdup(state_dir);
    rd->path = malloc(n);
    rd->lock_dir = malloc(n);
    if (rd->state_dir == NULL || rd->path == NULL || rd->lock_dir == NULL)
        return errbuf_set(err, SS_ERR, "out of memory");
    snprintf(rd->path, n, "%s/runs/%s", state_dir, id);
    snprintf(rd->lock_dir, n, "%s/locks", state_dir);
    return 0;
}

/*
 * The highest number a run of this second (stamp) already has under runs,
 * 0 when none: ids are STAMP-NNNN-RANDOM, and older ones STAMP-NNNN.
 */
static unsigned last_number(const char *runs, const char *stamp)
{
    size_t k = strlen(stamp);
    unsigned best = 0;
    struct dirent *e;
    DIR *d;

    if ((d = opendir(runs)) == NULL)
        return 0;
    while ((e = readdir(d)) != NULL) {
        const char *s = e->d_name;
        unsigned n;

        if (strncmp(s, stamp, k) == 0 && s[k] == '-' &&
            strspn(s + k + 1, "0123456789") == 4 &&
            (s[k + 5] == '\0' || s[k + 5] == '-')) {
            n = (unsigned)strtoul(s + k + 1, NULL, 10);
            if (n > best)
                best = n;
        }
    }
    closedir(d); /* read-only: nothing to lose */
    return best;
}

/*
 * Makes the folder of a new run under runs, named by a fresh id written
 * into id: the UTC time now, a number counting the runs made in that
 * second in this state folder (0001, 0002, ...), so ids sort in the order
 * the runs started, and 24 random bits, so that runs of two controllers
 * (two state folders) that start in one second still differ: hosts tell
 * runs apart by their id (the host lock, the run's folder there).  mkdir
 * is the arbiter between two spamstops.
 */
static int rundir_new_folder(char id[RUNDIR_ID_MAX], const char *runs,
                             time_t now, struct errbuf *err)
{
    char sub[4096 + 2 * RUNDIR_ID_MAX], stamp[32];
    unsigned char rnd[3];
    struct tm tm;
    unsigned n, tries;

    gmtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
    n = last_number(runs, stamp);
    for (tries = 0;; tries++) {
        if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
            return errbuf_errno(err, SS_ERR, "no random bytes for a run id");
        if (tries % 4 == 0)
            n++;
        snprintf(id, RUNDIR_ID_MAX, "%s-%04u-%02x%02x%02x", stamp, n, rnd[0],
                 rnd[1], rnd[2]);
        snprintf(sub, sizeof(sub), "%s/%s", runs, id);
        if (mkdir(sub, 0700) == 0)
            break;
        if (errno != EEXIST || n >= 9999)
            return errbuf_errno(err, SS_ERR, "cannot create run folder '%s'",
                                sub);
    }
    return fsio_sync_dir(runs, err);
}

int rundir_resolve(char out[RUNDIR_ID_MAX], const char *state_dir,
                   const char *arg, struct errbuf *err)
{
    char runs[4096];
    struct dirent *e;
    DIR *d;

    if (strcmp(arg, "last") != 0) {
        if (!rundir_valid_id(arg))
            return errbuf_set(err, SS_EINVAL,
                              "'%.64s' is not a run id (see 'spamstop audit "
                              "list')",
                              arg);
        snprintf(out, RUNDIR_ID_MAX, "%s", arg);
        return 0;
    }
    snprintf(runs, sizeof(runs), "%s/runs", state_dir);
    out[0] = '\0';
    if ((d = opendir(runs)) != NULL) {
        while ((e = readdir(d)) != NULL)
            /* a valid id is shorter than RUNDIR_ID_MAX */
            if (rundir_valid_id(e->d_name) && strcmp(e->d_name, out) > 0)
                memcpy(out, e->d_name, strlen(e->d_name) + 1);
        closedir(d); /* read-only: nothing to lose */
    }
    if (out[0] == '\0')
        return errbuf_set(err, SS_ENOENT, "no runs in '%s' (check --state-dir)",
                          runs);
    return 0;
}

int rundir_create(struct rundir **out, const char *state_dir,
                  const struct playbook *pb, const char *const *hosts,
                  size_t nhosts, bool dry_run, struct errbuf *err)
{
    struct rundir *rd = NULL;
    char id[RUNDIR_ID_MAX], runs[4096], sub[4096 + 2 * RUNDIR_ID_MAX];
    time_t now = time(NULL);
    size_t i;
    int r;

    *out = NULL;
    if ((r = state_dir_ready(state_dir, err)) < 0)
        return r;
    snprintf(runs, sizeof(runs), "%s/runs", state_dir);
    if ((r = fsio_mkdirs(runs, 0700, err)) < 0)
        return r;
    if ((rd = calloc(1, sizeof(*rd))) == NULL)
        return errbuf_set(err, SS_ERR, "out of memory");
    if ((r = rundir_new_folder(id, runs, now, err)) < 0 ||
        (r = rundir_paths(rd, state_dir, id, err)) < 0)
        goto out;
    snprintf(sub, sizeof(sub), "%s/journal", rd->path);
    if ((r = fsio_mkdirs(sub, 0700, err)) < 0)
        goto out;
    snprintf(sub, sizeof(sub), "%s/evidence", rd->path);
    /* fsio_mkdirs syncs the run folder after each folder it makes. */
    if ((r = fsio_mkdirs(sub, 0700, err)) < 0)
        goto out;
    snprintf(sub, sizeof(sub), "%s/playbook.json", rd->path);
    if ((r = fsio_write_atomic(sub, pb->text, pb->text_len, 0600, err)) < 0)
        goto out;
    strcpy(rd->info.run_id, id);
    rd->info.started = now;
    rd->info.dry_run = dry_run;
    memcpy(rd->info.playbook_sha256, pb->sha256, sizeof(pb->sha256));
    if ((rd->info.playbook = strdup(pb->name)) == NULL ||
        (rd->info.outcome = strdup(dry_run ? "dry-run" : "running")) == NULL ||
        strlist_copy(&rd->info.param_names, &pb->param_names) < 0 ||
        strlist_copy(&rd->info.param_values, &pb->param_values) < 0) {
        r = errbuf_set(err, SS_ERR, "out of memory");
        goto out;
    }
    for (i = 0; i < nhosts; i++)
        if (strlist_push(&rd->info.hosts, hosts[i]) < 0 ||
            strlist_push(&rd->info.host_states, "pending") < 0) {
            r = errbuf_set(err, SS_ERR, "out of memory");
            goto out;
        }
    if ((r = rundir_save(rd, err)) < 0)
        goto out;
    *out = rd;
    rd = NULL;
out:
    rundir_free(rd);
    return r;
}

int rundir_open(struct rundir **out, const char *state_dir, const char *run_id,
                struct errbuf *err)
{
    struct rundir *rd = NULL;
    char path[4096], *text = NULL;
    size_t len = 0;
    int r;

    *out = NULL;
    if (!rundir_valid_id(run_id))
        return errbuf_set(err, SS_EINVAL, "bad run id '%.64s'", run_id);
    if ((r = fsio_check_private_dir(state_dir, err)) < 0)
        return r;
    if ((rd = calloc(1, sizeof(*rd))) == NULL)
        return errbuf_set(err, SS_ERR, "out of memory");
    if ((r = rundir_paths(rd, state_dir, run_id, err)) < 0)
        goto out;
    snprintf(path, sizeof(path), "%s/run.json", rd->path);
    if ((r = fsio_read_file(&text, &len, path, RUN_JSON_MAX, err)) < 0) {
        if (r == SS_ENOENT)
            errbuf_set(err, SS_ENOENT, "no run '%s' in '%s'", run_id,
                       state_dir);
        goto out;
    }
    if ((r = run_info_parse(&rd->info, text, len, err)) < 0) {
        errbuf_prefix(err, "run '%s'", run_id);
        goto out;
    }
    if (strcmp(rd->info.run_id, run_id) != 0) {
        r = errbuf_set(err, SS_ECORRUPT, "run '%s': run.json names '%s'",
                       run_id, rd->info.run_id);
        goto out;
    }
    *out = rd;
    rd = NULL;
out:
    free(text);
    rundir_free(rd);
    return r;
}

int rundir_load_playbook(struct playbook **out, const struct rundir *rd,
                         playbook_lookup_fn lookup, struct errbuf *err)
{
    struct playbook *pb = NULL;
    char path[4096];
    size_t i;
    int r;

    *out = NULL;
    snprintf(path, sizeof(path), "%s/playbook.json", rd->path);
    if ((r = playbook_load(&pb, path, lookup, err)) < 0)
        return r;
    if (strcmp(pb->sha256, rd->info.playbook_sha256) != 0) {
        playbook_free(pb);
        return errbuf_set(err, SS_ECORRUPT,
                          "'%s' differs from what the run recorded", path);
    }
    for (i = 0; i < rd->info.param_names.n; i++) {
        if ((r = playbook_set_param(pb, rd->info.param_names.v[i],
                                    rd->info.param_values.v[i], err)) < 0) {
            playbook_free(pb);
            return r;
        }
    }
    *out = pb;
    return 0;
}
