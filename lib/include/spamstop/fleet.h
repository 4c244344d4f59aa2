/* The fleet picture: what flagged accounts have in common across hosts. */
#ifndef SPAMSTOP_FLEET_H
#define SPAMSTOP_FLEET_H

#include <stddef.h>

#include "spamstop/hmap.h"

/* The kinds of evidence compared across hosts. */
enum fleet_kind {
    FLEET_CLIENT = 0, /* the client address that submitted */
    FLEET_HELO,       /* the name it gave in HELO/EHLO */
    FLEET_SUBJECT,    /* a message's subject */
    FLEET_KINDS
};

/* "client IP", "HELO name", "subject". */
const char *fleet_kind_name(enum fleet_kind k);

/* One host and account that carried a value, with its messages there. */
struct fleet_sighting {
    const char *host;    /* borrowed from the caller */
    const char *account; /* borrowed from the caller */
    size_t count;
};

/* A value of flagged accounts and where it was seen. */
struct fleet_value {
    enum fleet_kind kind;
    char *value; /* owned */
    struct fleet_sighting *seen;
    size_t n_seen;
    size_t n_hosts;  /* distinct hosts among seen */
    size_t messages; /* seen's counts summed */
    size_t order;    /* when it was first added: ties keep that order */
};

/* An account flagged on hosts. */
struct fleet_account {
    const char *account; /* borrowed */
    const char **hosts;  /* borrowed names, each once */
    size_t n_hosts;
};

/* Most distinct values or accounts a fleet takes (SS_ETOOBIG past it). */
#define FLEET_MAX 1000000u

/*
 * Values and accounts of flagged accounts, added host by host (all of one
 * host's sightings together: a host is counted once per value when its
 * sightings come one after the other), then fleet_finish.
 */
struct fleet {
    struct fleet_value *values;
    size_t n_values;
    struct fleet_account *accounts;
    size_t n_accounts;
    /* while adding: value (per kind) and account to its index */
    struct hmap index[FLEET_KINDS];
    struct hmap by_account;
};

void fleet_init(struct fleet *f);
/* Frees what f holds (the borrowed names stay the caller's); NULL-safe. */
void fleet_release(struct fleet *f);

/*
 * Adds that account, flagged on host, had count messages with value
 * (copied).  SS_ETOOBIG past FLEET_MAX values, SS_ERR when out of memory.
 */
int fleet_add_value(struct fleet *f, enum fleet_kind kind, const char *value,
                    const char *host, const char *account, size_t count);

/* Adds that account is flagged on host; the errors of fleet_add_value. */
int fleet_add_flagged(struct fleet *f, const char *host, const char *account);

/*
 * Keeps only what was seen on more than one host: values on the most
 * hosts first (else in the order they were first added), accounts in the
 * order they were first added.
 */
void fleet_finish(struct fleet *f);

#endif
