/* Run folders: STATE/runs/RUN-ID with run.json, journals, trail, evidence. */
#ifndef SPAMSTOP_RUNDIR_H
#define SPAMSTOP_RUNDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "spamstop/error.h"
#include "spamstop/exec.h"
#include "spamstop/playbook.h"

#define RUNDIR_ID_MAX 64

/* What run.json says about a run (`audit list` reads the same fields). */
struct run_info {
    char run_id[RUNDIR_ID_MAX];
    time_t started;
    time_t finished; /* 0 = null: not finished */
    char *playbook;  /* the playbook's name */
    char playbook_sha256[SHA256_HEX_LEN + 1];
    struct strlist hosts;
    struct strlist host_states; /* one per host, host_state_name()s */
    struct strlist param_names; /* the parameters the run used */
    struct strlist param_values;
    bool dry_run;
    char *outcome; /* running|committed|partial|attention|dry-run|
                      interrupted */
    /* hosts.n connection settings (address, port, user, become), so
       rollback and resume reach inventory hosts as respond did; NULL =
       the names only */
    struct exec_target *targets;
    /* the audit trail's anchor (docs/audit.md); 0 records = none yet */
    uint64_t audit_records;
    char audit_head[SHA256_HEX_LEN + 1];
};

void run_info_init(struct run_info *ri);
void run_info_release(struct run_info *ri);

/* An open run folder. */
struct rundir {
    char *state_dir;
    char *path;     /* STATE/runs/RUN-ID */
    char *lock_dir; /* STATE/locks */
    struct run_info info;
};

/*
 * Checks (or creates, 0700) the state folder and creates a new run folder
 * with journal/ and evidence/, a copy of the playbook (playbook.json) and
 * run.json (outcome "running").  The caller frees with rundir_free.
 */
int rundir_create(struct rundir **out, const char *state_dir,
                  const struct playbook *pb, const char *const *hosts,
                  size_t nhosts, bool dry_run, struct errbuf *err);

/*
 * Opens an existing run by id: reads run.json and checks the playbook copy
 * against its digest.  SS_ENOENT when there is no such run.
 */
int rundir_open(struct rundir **out, const char *state_dir, const char *run_id,
                struct errbuf *err);

/* Loads the run's playbook copy (lookup: see playbook_load) with the
 * run's parameters applied. */
int rundir_load_playbook(struct playbook **out, const struct rundir *rd,
                         playbook_lookup_fn lookup, struct errbuf *err);

/* Keeps a copy of the n targets (n == hosts.n, same order) in ri. */
int run_info_set_targets(struct run_info *ri, const struct exec_target *t,
                         size_t n);

/* Rewrites run.json atomically from rd->info. */
int rundir_save(struct rundir *rd, struct errbuf *err);

/* NULL-safe. */
void rundir_free(struct rundir *rd);

/* A run id is digits, lower-case letters and '-' only (no paths). */
bool rundir_valid_id(const char *id);

/*
 * The run id arg names: "last" for the newest run in state_dir (ids sort
 * in the order runs started; SS_ENOENT when there is none), else arg
 * itself once checked (SS_EINVAL).
 */
int rundir_resolve(char out[RUNDIR_ID_MAX], const char *state_dir,
                   const char *arg, struct errbuf *err);

/* Parses run.json text into *out (initialised here). */
int run_info_parse(struct run_info *out, const char *text, size_t len,
                   struct errbuf *err);

#endif
