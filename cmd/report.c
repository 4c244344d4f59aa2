/* spamstop report: the incident report of a run, as Markdown, HTML or JSON. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "spamstop/fsio.h"
#include "spamstop/report.h"
#include "spamstop/rundir.h"

static const char report_help[] =
    "usage: spamstop report RUN [--format md|text|html|json] [-o FILE]\n"
    "                       [--notice-hosts] [--state-dir DIR]\n\n"
    "Writes the incident report of run RUN for the ticket and the customer:\n"
    "per host the queue before and after (by queue, and age by sender\n"
    "domain), the suspects and their evidence (messages, client IPs, HELO\n"
    "names, sender domains, first and last seen), web-script findings, what\n"
    "was changed and what was kept (a dry run: what was read and what a\n"
    "real run would do), the rollback state, the evidence files with their\n"
    "SHA-256; across hosts the values flagged accounts share and the damage\n"
    "per account; and for each account whose password was reset one draft\n"
    "notice to the customer.  No password is ever in a report: the run's\n"
    "credentials file is never read.\n\n"
    "  -f, --format FMT      md (default), text (plain, for ticket systems),\n"
    "                        html (one self-contained file) or json;\n"
    "                        -o FILE.txt, .html or .json picks it too\n"
    "  -o, --output FILE     write to FILE (mode 0600) instead of stdout\n"
    "      --notice-hosts    name the hosts in the customer notices (they\n"
    "                        name none otherwise)\n"
    "      --state-dir DIR   where runs are kept (default\n"
    "                        $SPAMSTOP_STATE_DIR, else "
    "$XDG_STATE_HOME/spamstop)\n"
    "  -h, --help            show this help\n\n"
    "Exit status: 0 written, 2 usage, 4 written but the run's audit trail\n"
    "does not verify (or a journal is damaged: nothing written), 5 no such\n"
    "run or the report could not be written.\n";

/* The format a file name implies, or -1. */
static int report_format_of(const char *path)
{
    const char *dot = strrchr(path, '.');

    if (dot == NULL)
        return -1;
    if (strcmp(dot, ".html") == 0 || strcmp(dot, ".htm") == 0)
        return REPORT_HTML;
    if (strcmp(dot, ".json") == 0)
        return REPORT_JSON;
    if (strcmp(dot, ".md") == 0)
        return REPORT_MD;
    if (strcmp(dot, ".txt") == 0)
        return REPORT_TEXT;
    return -1;
}

/* What the command line asks of report. */
struct report_args {
    enum report_format fmt;
    const char *output; /* NULL or "-": stdout */
    const char *run;
    unsigned flags; /* report_flags */
};

/*
 * Reads report's options into a and o.  0 to go on, else the exit code
 * (--help, or a bad option with the message printed).
 */
static int report_args(struct report_args *a, struct cmd_opts *o, int argc,
                       char **argv)
{
    static const struct option longopts[] = {
        {"format", required_argument, NULL, 'f'},
        {"output", required_argument, NULL, 'o'},
        {"state-dir", required_argument, NULL, OPT_STATE_DIR},
        {"notice-hosts", no_argument, NULL, 'N'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    bool fmt_given = false;
    int c;

    a->fmt = REPORT_MD;
    optind = 1;
    while ((c = getopt_long(argc, argv, "f:o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'f':
            if (report_format_parse(&a->fmt, optarg) < 0) {
                cmd_error("unknown format '%s': use md, text, html or json",
                          optarg);
                return EXIT_USAGE;
            }
            fmt_given = true;
            break;
        case 'o': a->output = optarg; break;
        case 'N': a->flags |= REPORT_NOTICE_HOSTS; break;
        case OPT_STATE_DIR: o->state_dir = optarg; break;
        case 'h': fputs(report_help, stdout); return EXIT_OK;
        default: fputs(report_help, stderr); return EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        cmd_error("report needs one run id (see 'spamstop audit list')");
        return EXIT_USAGE;
    }
    a->run = argv[optind];
    if (!fmt_given && a->output != NULL && report_format_of(a->output) >= 0)
        a->fmt = (enum report_format)report_format_of(a->output);
    return 0;
}

/* Writes the rendered report to a->output or stdout; -1 when it cannot. */
static int report_write(const struct report_args *a, const struct buf *out)
{
    struct errbuf err = ERRBUF_INIT;

    if (a->output != NULL && strcmp(a->output, "-") != 0) {
        if (fsio_write_atomic(a->output, out->data, out->len, 0600, &err) < 0) {
            cmd_error("%s", err.msg);
            return -1;
        }
    } else if (fwrite(out->data, 1, out->len, stdout) != out->len ||
               fflush(stdout) != 0) {
        cmd_error("cannot write the report to stdout");
        return -1;
    }
    return 0;
}

int cmd_report(int argc, char **argv)
{
    struct report_args a = {0};
    struct errbuf err = ERRBUF_INIT;
    struct report *rep = NULL;
    struct buf out = BUF_INIT, dir = BUF_INIT;
    struct cmd_opts o;
    char id[RUNDIR_ID_MAX];
    int r, rc = EXIT_NOT_STARTED;

    cmd_opts_init(&o);
    if ((r = report_args(&a, &o, argc, argv)) != 0)
        return r;
    if ((r = rundir_resolve(id, cmd_state_dir(&o), a.run, &err)) < 0) {
        cmd_error("%s", err.msg);
        return r == SS_EINVAL ? EXIT_USAGE : EXIT_NOT_STARTED;
    }
    a.run = id;
    if (buf_printf(&dir, "%s/runs/%s", cmd_state_dir(&o), a.run) < 0) {
        cmd_error("out of memory");
        goto out;
    }
    if ((r = report_load(&rep, dir.data, &err)) < 0) {
        if (r == SS_ENOENT)
            cmd_error("no run '%s' in '%s/runs' (see 'spamstop audit list')",
                      a.run, cmd_state_dir(&o));
        else
            cmd_error("%s", err.msg);
        rc = r == SS_ECORRUPT ? EXIT_TAMPERED : EXIT_NOT_STARTED;
        goto out;
    }
    if (report_render(&out, rep, a.fmt, a.flags, &err) < 0) {
        cmd_error("%s", err.msg);
        goto out;
    }
    if (report_write(&a, &out) < 0)
        goto out;
    rc = EXIT_OK;
    if (!rep->audit_present || !rep->audit_ok) {
        cmd_error("the run's audit trail %s: the report says so",
                  rep->audit_present ? "does not verify" : "is missing");
        rc = EXIT_TAMPERED;
    }
out:
    report_free(rep);
    buf_release(&out);
    buf_release(&dir);
    return rc;
}
