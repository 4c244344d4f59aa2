/* The remote commands spamstop runs on a Postfix host, as sh text. */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spamstop/buf.h"
#include "spamstop/postfix.h"
#include "spamstop/shquote.h"

/* Every script starts here: sbin on PATH (non-login shells may lack it). */
#define PREAMBLE "PATH=\"$PATH:/usr/sbin:/sbin:/usr/local/sbin\"; export PATH\n"

/*
 * Sets q and pdd to the queue and daemon directories, from one postconf run
 * (each postconf start reads main.cf and master.cf: ~15 ms on the lab).  A
 * command given the directories (struct postfix_dirs, from an earlier pass
 * of the run on the same host) sets them instead and starts no postconf.
 */
#define POSTFIX_DIRS_ASK                                                       \
    "{ IFS= read -r q; IFS= read -r pdd; } <<SPAMSTOP_DIRS\n"                  \
    "$(postconf -h queue_directory daemon_directory 2>/dev/null)\n"            \
    "SPAMSTOP_DIRS\n"

/*
 * running: true while Postfix's master runs.  That is what postfix status
 * reports, and how: its test is "master -t" (exit 0 when master.pid is
 * absent or unlocked), which here runs alone instead of behind postfix,
 * postfix-script, two postconf, two sed and a postlog (36 ms against 6).
 * Without the daemon directory, running asks postfix status itself.
 */
#define RUNNING_FN                                                             \
    "running() { if [ -n \"$pdd\" ] && [ -x \"$pdd/master\" ]; then "          \
    "! \"$pdd/master\" -t >/dev/null 2>&1 </dev/null; "                        \
    "else postfix status >/dev/null 2>&1 </dev/null; fi; }\n"

/* After the directories: enters the queue directory or exits 3. */
#define ENTER_QUEUE_TAIL                                                       \
    "[ -n \"$q\" ] && cd \"$q\" || "                                           \
    "{ echo \"cannot enter the postfix queue directory\" >&2; exit 3; }\n"

/*
 * The identify pass prints the directories for later commands, when both
 * are plain absolute paths (postfix_dir_valid's set; q is never empty
 * here, ENTER_QUEUE_TAIL saw to it).
 */
#define PRINT_DIRS                                                             \
    "case \"$q/$pdd\" in *[!A-Za-z0-9/._+-]*) ;; "                             \
    "/*) case $pdd in /*) echo \"*** SPAMSTOP DIRS $q $pdd ***\" ;; esac ;; "  \
    "esac\n"

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
 * Appends how the script gets q and pdd (the directories given, checked
 * again, else postconf) and the running function.
 */
static int commands_dirs(struct buf *b, const struct postfix_dirs *d)
{
    if (d != NULL && postfix_dir_valid(d->queue, strlen(d->queue)) &&
        postfix_dir_valid(d->daemon, strlen(d->daemon))) {
        if (commands_assign(b, "q", d->queue) < 0 ||
            commands_assign(b, "pdd", d->daemon) < 0)
            return SS_ERR;
    } else if (buf_adds(b, POSTFIX_DIRS_ASK) < 0) {
        return SS_ERR;
    }
    return buf_adds(b, RUNNING_FN);
}

/* commands_dirs, then into the queue directory. */
static int commands_enter(struct buf *b, const struct postfix_dirs *d)
{
    if (commands_dirs(b, d) < 0)
        return SS_ERR;
    return buf_adds(b, ENTER_QUEUE_TAIL);
}

/* head, the directories (entering the queue), tail: a new string or NULL. */
static char *commands_join(const char *head, const struct postfix_dirs *d,
                           const char *tail)
{
    struct buf b = BUF_INIT;

    if (buf_adds(&b, head) < 0 || commands_enter(&b, d) < 0 ||
        buf_adds(&b, tail) < 0) {
        buf_release(&b);
        return NULL;
    }
    return buf_detach(&b);
}

/* Refuses to go on while Postfix runs (queue ids can be reused). */
#define REQUIRE_STOPPED                                                        \
    "if running; then "                                                        \
    "echo \"postfix is running: refusing to act on queue ids\" >&2; "          \
    "exit 75; fi\n"

/*
 * postsuper with ARGS (and its stdin redirection), its stderr kept and
 * written out in one piece, its status in s.  postsuper writes a line per
 * message to stderr ("ID: placed on hold", "ID: removed") when no postlogd
 * runs, each its own write and so its own SSH packet for sshd to encrypt
 * and the controller to read: 1,800 of them for 1,800 messages.
 */
#define POSTSUPER_BUFFERED_OPEN "{ e=$("
#define POSTSUPER_BUFFERED_CLOSE                                               \
    " 2>&1 >&3); s=$?; } 3>&1\n"                                               \
    "[ -z \"$e\" ] || printf '%s\\n' \"$e\" >&2\n"
#define POSTSUPER_BUFFERED(ARGS)                                               \
    POSTSUPER_BUFFERED_OPEN ARGS POSTSUPER_BUFFERED_CLOSE

/* Recipients printed per message; must equal POSTFIX_RCPT_KEEP. */
#define RCPT_KEEP "32"

/* Files a postcat of identify reads at most (its text: ~2 KB a message). */
#define BATCH_MAX "2000"

/* The queues holding messages, and those holding per-message logs. */
#define MESSAGE_QUEUES "deferred active incoming hold maildrop"
#define LOG_QUEUES     "defer bounce trace"

/*
 * A fingerprint per message file (path, inode, size, ctime, taken before
 * postcat reads it: a change after that gives another stamp), printed as
 * "*** SPAMSTOP FILE ... ***" lines after the messages (so the audit
 * trail's excerpt of the output still shows envelopes); a file whose line
 * is on stdin (an earlier pass read it with that very stamp) is not read
 * again, and files with odd names get no line and are always read.
 * postcat -e -h runs over the files to read, batched by xargs, one batch per
 * core run at once (xargs -P; each postcat start costs a few ms, so no more
 * batches than that), a batch at most BATCH_MAX files so that its text on
 * disk stays small.  postcat writes each record with its own write(2):
 * ~43 for a message.  Into a pipe, every one of them wakes the reader on
 * the other core; into a file they cost half as much, and awk then reads
 * the file in big blocks (5,000 messages: 165-200 ms through a pipe,
 * 110-130 ms into files, on the lab).  So each batch's postcat writes its
 * own file, awk (program in $F) filters it, and the filtered text is
 * copied out whole (under flock when batches run at once, so messages never
 * interleave).  One vanished file makes postcat exit 1 for its whole batch,
 * so the batch is read again, from an empty file, without the files that
 * are gone, up to three times, then file by file.  postcat does not notice
 * when its writes fail (a full disk): awk counts the messages it finds
 * against the files postcat said it read and fails the batch when some are
 * missing, so a cut file never passes for a smaller queue.  awk keeps the
 * markers, the envelope records identify reads (the first RCPT_KEEP
 * recipients, then their number) and, of the headers, only those identify
 * reads with their continuation lines: a fraction of postcat's output.
 * The end marker follows only when every batch succeeded.  TZ=UTC0 makes
 * postcat print arrival times in UTC.
 *
 * Each process started costs the host 3-7 ms (the lab, a virtual machine
 * with page-table isolation), so the script starts few: a pass whose
 * files are all known starts no getconf, xargs or postcat; the known
 * stamps are read and checked by the awk that lists the files, which
 * also counts them; a batch empties its files (truncation, a builtin)
 * instead of starting rm, and they go with the temporary folder.
 */
static const char identify_head[] =
    PREAMBLE "TZ=UTC0; LC_ALL=C; export TZ LC_ALL\n";
static const char identify_body[] =
    "F='/^\\*\\*\\* / { if ($2 == \"MESSAGE\" && $3 == \"FILE\" && r "
    "> " RCPT_KEEP ") print \"spamstop_recipients: \" r\n"
    "  if ($2 == \"ENVELOPE\") { r = 0; m++ }\n"
    "  print; h = ($2 == \"MESSAGE\" && $3 == \"CONTENTS\"); k = 0; next }\n"
    "h && /^[ \\t]/ { if (k) print; next }\n"
    "h { l = tolower(substr($0, 1, 40)); k = (l ~ "
    "/^(from|message-id|subject|x-php-originating-script)[ \\t]*:/); "
    "if (k) print; next }\n"
    "/^recipient: / { if (++r <= " RCPT_KEEP ") print; next }\n"
    "/^(sender|message_arrival_time): |^named_attribute: "
    "(sasl_(method|username|sender)|log_client_address|log_helo_name)=/\n"
    "END { if (m < N) { print \"postcat printed \" m \" of \" N \" "
    "messages: its output was cut (is the temporary folder full?)\" "
    ">\"/dev/stderr\"; exit 2 } }'\n"
    "umask 077\n"
    "w=$(mktemp -d) || exit 3\n"
    "trap 'rm -rf \"$w\"' EXIT\n"
    "find " MESSAGE_QUEUES " -type f \\( -regex '[a-z]+/[0-9A-Za-z/]+' "
    "-fprintf \"$w/fp\" '%p %i %s %C@\\n' -o -fprint0 \"$w/odd\" \\) "
    "2>/dev/null\n"
    ": >>\"$w/fp\"; : >>\"$w/odd\"\n"
    "awk -v M=\"$w/marks\" -v C=\"$w/n\" "
    "'BEGIN { while ((getline l < \"/dev/stdin\") > 0) if (l ~ "
    "\"^[a-z]+/[0-9A-Za-z/]+ [0-9]+ [0-9]+ [0-9]+([.][0-9]+)?$\") "
    "k[l] = 1 }\n"
    "{ print \"*** SPAMSTOP FILE \" $0 \" ***\" >M }\n"
    "!($0 in k) { print $1; n++ }\n"
    "END { print n + 0 >C }' \"$w/fp\" | tr '\\n' '\\000' >\"$w/files\"\n"
    "{ read -r n <\"$w/n\" && case $n in '' | *[!0-9]*) false ;; esac; } ||"
    " { echo 'cannot list the queue files' >&2; exit 3; }\n"
    "if [ -s \"$w/odd\" ]; then cat \"$w/odd\" >>\"$w/files\"; "
    "n=$((n + $(tr -cd '\\000' <\"$w/odd\" | wc -c))); fi\n"
    "if [ \"$n\" -gt 0 ]; then\n"
    "p=$(getconf _NPROCESSORS_ONLN 2>/dev/null) || p=1\n"
    "case $p in '' | *[!0-9]*) p=1 ;; esac\n"
    "[ \"$p\" -le 8 ] || p=8\n"
    "command -v flock >/dev/null 2>&1 || p=1\n"
    "b=$((n / p + 1)); [ \"$b\" -le " BATCH_MAX " ] || b=" BATCH_MAX "\n"
    "W=$w P=$p\n"
    "export F W P\n"
    "xargs -0 -r -P \"$p\" -n \"$b\" sh -c '[ $# -gt 0 ] || exit 0\n"
    "c=$W/c.$$ o= n=0\n"
    "for try in 1 2 3; do\n"
    "  postcat -e -h \"$@\" </dev/null >\"$c\" 2>/dev/null && "
    "{ o=1; n=$#; break; }\n"
    "  for f do shift; [ -f \"$f\" ] && set -- \"$@\" \"$f\"; done\n"
    "done\n"
    "[ -n \"$o\" ] || for f do postcat -e -h \"$f\" </dev/null 2>/dev/null "
    "&& n=$((n + 1)); done >\"$c\"\n"
    "if [ \"$P\" -gt 1 ]; then awk -v N=\"$n\" \"$F\" \"$c\" >\"$c.f\" && "
    "flock \"$W/lock\" cat \"$c.f\"\n"
    "else awk -v N=\"$n\" \"$F\" \"$c\"; fi\n"
    "s=$?; : >\"$c\"; : >\"$c.f\"; exit $s' sh <\"$w/files\" || exit $?\n"
    "fi\n"
    "{ [ ! -f \"$w/marks\" ] || cat \"$w/marks\"; } &&\n"
    "{ " PRINT_DIRS "} &&\n"
    "echo '*** SPAMSTOP IDENTIFY END ***'\n";

/* Returns the identify pass's script (caller frees). */
char *postfix_identify_command(const struct postfix_dirs *dirs)
{
    return commands_join(identify_head, dirs, identify_body);
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

/* Sets v to the way the host runs Postfix, or fails with exit 3. */
#define DETECT_SERVICE                                                         \
    "if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1 "   \
    "&& systemctl cat postfix.service >/dev/null 2>&1; then v=systemd\n"       \
    "elif [ -x /etc/init.d/postfix ]; then v=sysv\n"                           \
    "elif command -v postfix >/dev/null 2>&1; then v=postfix\n"                \
    "else echo none; echo \"no way to control postfix was found on the "       \
    "host\" >&2; exit 3; fi\n"

/*
 * Waits in tenths of a second (a whole second where sleep takes integers
 * only, counted as ten ticks) while Postfix is "%s"running, up to %d
 * ticks, then fails naming the verb %s.
 */
#define POLL_SERVICE                                                           \
    "i=0\n"                                                                    \
    "while %srunning; do\n"                                                    \
    "  if [ $i -ge %d ]; then echo \"postfix did not %s\" >&2; exit 1; fi\n"   \
    "  if sleep 0.1 2>/dev/null; then i=$((i + 1)); "                          \
    "else sleep 1; i=$((i + 10)); fi\n"                                        \
    "done\n"

/*
 * The command that stops or starts Postfix through manager svc.  Without a
 * service manager, stop is "postfix abort": in Postfix 3.x's postfix-script
 * "stop" and "abort" send the master the same SIGTERM, and "stop" then
 * waits in whole seconds (sleep 1 whenever the master is not gone at once,
 * and a kill -9 of its process group after five).  We wait ourselves, in
 * tenths, with master -t (POLL_SERVICE): the same stop, up to a second
 * sooner.  systemd and SysV keep their own stop, so the manager's state
 * stays right.
 */
static int commands_service_verb(struct buf *b, enum postfix_service svc,
                                 const char *verb)
{
    const char *bare = strcmp(verb, "stop") == 0 ? "abort" : verb;

    switch (svc) {
    case POSTFIX_SERVICE_SYSTEMD:
        return buf_printf(b, "systemctl %s postfix.service", verb);
    case POSTFIX_SERVICE_SYSV:
        return buf_printf(b, "/etc/init.d/postfix %s", verb);
    case POSTFIX_SERVICE_POSTFIX: return buf_printf(b, "postfix %s", bare);
    case POSTFIX_SERVICE_NONE:
    default:
        return buf_printf(b,
                          "case $v in systemd) systemctl %s postfix.service;;"
                          " sysv) /etc/init.d/postfix %s;; *) postfix %s;; "
                          "esac",
                          verb, verb, bare);
    }
}

/*
 * The timer's script, written to DIR/<id>.sh by the stop and run as
 * "sh FILE NAME SECS PDD TIMER DOWN MANAGER TOKEN" (a file, not sh -c:
 * systemd 252 expands $VAR in a transient unit's command line).  After
 * SECS it does nothing unless the TIMER file still holds its TOKEN (a
 * start removed it: a disarm whose kill missed still disarms); else it
 * starts Postfix through MANAGER unless it runs, waits up to 30 s for
 * it, adds its own clock to the DOWN file's stop time when it was the one
 * to start it, and only then removes the TIMER file and itself: a start
 * of the run that comes while the timer is at work still finds it, and
 * stops it once Postfix runs.
 */
#define TIMER_SCRIPT                                                           \
    PREAMBLE                                                                   \
    "n=$2 pdd=$3 f=$4 d=$5 m=$6 tk=$7 x=$0 s=\n"                               \
    "[ \"$n\" -gt 0 ] 2>/dev/null && sleep \"$n\"\n"                           \
    "mine() { [ -f \"$f\" ] && read -r p k <\"$f\" && [ \"$k\" = \"$tk\" ]; "  \
    "}\n"                                                                      \
    "mine || exit 0\n" RUNNING_FN "if ! running; then s=1; case $m in "        \
    "systemd) systemctl start postfix.service;; "                              \
    "sysv) /etc/init.d/postfix start;; *) postfix start;; "                    \
    "esac >/dev/null 2>&1 </dev/null; fi\n"                                    \
    "i=0\n"                                                                    \
    "while ! running && [ $i -lt 300 ]; do "                                   \
    "sleep 0.1 2>/dev/null || sleep 1; i=$((i + 1)); done\n"                   \
    "if [ -n \"$s\" ] && running && [ -f \"$d\" ] && read -r a b <\"$d\" && "  \
    "[ -z \"$b\" ] && read -r t c </proc/uptime; then "                        \
    "echo \"$a $t\" >\"$d\"; fi\n"                                             \
    "! mine || rm -f \"$f\" \"$x\"\n"

/*
 * disarm: stops the timer the file $T names, also one that fired and is
 * still at work (the caller's Postfix runs already): a systemd timer unit
 * and its service, or a process group, killed only when the pid's
 * command line still holds the token (a pid reused since is left alone).
 * Nothing armed, or a timer that is done (it removed the file), is fine.
 * The caller removes $T.
 */
#define DISARM_FN                                                              \
    "disarm() { [ -f \"$T\" ] || return 0\n"                                   \
    "read -r a b <\"$T\" || :\n"                                               \
    "case $a in systemd) systemctl stop \"$u.timer\" \"$u.service\" "          \
    ">/dev/null 2>&1 ;;\n"                                                     \
    "'' | *[!0-9]*) ;;\n"                                                      \
    "*) [ -n \"$b\" ] && grep -qF -e \"$b\" \"/proc/$a/cmdline\" 2>/dev/null " \
    "&& kill -TERM \"-$a\" 2>/dev/null ;;\n"                                   \
    "esac\nreturn 0; }\n"

/*
 * Arms the timer, Postfix still running (exit 4 when it cannot): an
 * earlier one of the run first disarmed (a stop run again by resume).
 * systemd-run only where systemd is PID 1; AccuracySec=1s, or the timer
 * may fire up to a minute late.  Elsewhere setsid detaches the script
 * (a session and process group of its own, stdio on /dev/null: it
 * outlives the SSH channel) and $! is its pid (a background job of a
 * shell without job control is no group leader, so setsid does not fork).
 */
#define ARM_TIMER                                                              \
    "disarm\n"                                                                 \
    "read -r t c 2>/dev/null </proc/uptime || t=0\n"                           \
    "k=\"$u:$t\" a=\n"                                                         \
    "if printf '%s' \"$R\" >\"$X\" 2>/dev/null; then\n"                        \
    "if [ -d /run/systemd/system ] && command -v systemd-run >/dev/null 2>&1;" \
    " then\n"                                                                  \
    "systemd-run --quiet --collect --unit=\"$u\" --on-active=\"$ra\" "         \
    "--timer-property=AccuracySec=1s /bin/sh \"$X\" \"$u\" 0 \"$pdd\" \"$T\" " \
    "\"$D\" \"$v\" \"$k\" </dev/null >/dev/null 2>&1 && "                      \
    "echo \"systemd $k\" >\"$T\" && a=1\n"                                     \
    "elif command -v setsid >/dev/null 2>&1; then\n"                           \
    "setsid /bin/sh \"$X\" \"$u\" \"$ra\" \"$pdd\" \"$T\" \"$D\" \"$v\" "      \
    "\"$k\" </dev/null >/dev/null 2>&1 &\n"                                    \
    "echo \"$! $k\" >\"$T\" && a=1\n"                                          \
    "fi; fi\n"                                                                 \
    "[ -n \"$a\" ] || { echo \"cannot arm the restart timer: postfix was "     \
    "left running\" >&2; exit 4; }\n"

/* The stop's clock, right before the verb (a builtin read: no process). */
#define NOTE_STOP                                                              \
    "read -r t c 2>/dev/null </proc/uptime && echo \"$t\" 2>/dev/null "        \
    ">\"$D\"\n"

/*
 * Before the start: when this run's stop stopped Postfix (its clock note
 * is there), Postfix's own quick-start marker skips the integrity checks
 * of "postfix start" (postfix check, the queue scan): they ran when this
 * Postfix last started, and only this run's hold touched the queue since.
 * That is most of the time mail is down (docs/decisions.md).  The timer
 * does not use it: it may start Postfix long after.  "true", a regular
 * builtin: a failed redirection of ":" would end the script.
 */
#define QUICK_START                                                            \
    "w=1\nif [ -f \"$D\" ] && [ -n \"$q\" ]; then "                            \
    "true >\"$q/quick-start\" 2>/dev/null || :; fi\n"

/* After the stop's wait: which timer stands. */
#define SAY_TIMER                                                              \
    "if [ -f \"$T\" ] && read -r a b <\"$T\"; then "                           \
    "echo \"*** SPAMSTOP TIMER $a ***\"; fi\n"

/*
 * After the start's wait, Postfix running: its clock, the disarm, and the
 * down time when known (the timer's clock if the timer started Postfix,
 * ours if this command did; neither when someone else did).
 */
#define SAY_DOWN                                                               \
    "read -r t c 2>/dev/null </proc/uptime || t=\n"                            \
    "disarm\n"                                                                 \
    "if [ -f \"$D\" ] && read -r a b <\"$D\"; then\n"                          \
    "if [ -n \"$b\" ]; then echo \"*** SPAMSTOP DOWN $a $b timer ***\"\n"      \
    "elif [ -n \"$w\" ] && [ -n \"$t\" ]; then "                               \
    "echo \"*** SPAMSTOP DOWN $a $t start ***\"; fi; fi\n"                     \
    "if [ -f \"$T\" ] || [ -f \"$D\" ] || [ -f \"$X\" ]; then "                \
    "rm -f \"$T\" \"$D\" \"$X\"; fi\n"                                         \
    "[ -z \"$q\" ] || [ ! -f \"$q/quick-start\" ] || rm -f "                   \
    "\"$q/quick-start\"\n"

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
 * Appends the timer's variables (S, T, D, X, u, ra, R) and the disarm
 * function; SS_EINVAL for a bad id, directory or deadline.
 */
static int commands_timer_vars(struct buf *b, const struct postfix_timer *t,
                               enum postfix_service_op op, struct errbuf *err)
{
    const char *dir = t->dir != NULL ? t->dir : POSTFIX_TIMER_DIR;
    char name[sizeof(POSTFIX_TIMER_PREFIX) + 64], ra[16];
    struct buf p = BUF_INIT;
    int r = SS_ERR;

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
    if (commands_assign(b, "S", dir) < 0 ||
        buf_printf(&p, "%s/%s.timer", dir, t->id) < 0 ||
        commands_assign(b, "T", p.data) < 0)
        goto out;
    buf_reset(&p);
    if (buf_printf(&p, "%s/%s.down", dir, t->id) < 0 ||
        commands_assign(b, "D", p.data) < 0)
        goto out;
    buf_reset(&p);
    if (buf_printf(&p, "%s/%s.sh", dir, t->id) < 0 ||
        commands_assign(b, "X", p.data) < 0 ||
        commands_assign(b, "u", name) < 0 || buf_adds(b, DISARM_FN) < 0)
        goto out;
    if (op == POSTFIX_STOP && t->restart_after > 0 &&
        (commands_assign(b, "ra", ra) < 0 ||
         commands_assign(b, "R", TIMER_SCRIPT) < 0))
        goto out;
    r = 0;
out:
    buf_release(&p);
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
 * Builds a service command; see postfix.h.  One round trip: detection (when
 * svc is POSTFIX_SERVICE_NONE), the manager's name on stdout, then the
 * status, or the idempotent stop/start and the wait until master -t (the
 * test behind postfix status) agrees.  With a timer, the extra work stays
 * off the time mail is down: the arm before the stop's clock, the disarm
 * after the start's, and no process started in between but the verb's.
 */
int postfix_service_command_timer(char **out, enum postfix_service svc,
                                  enum postfix_service_op op, int wait_s,
                                  const struct postfix_dirs *dirs,
                                  const struct postfix_timer *t,
                                  struct errbuf *err)
{
    struct buf b = BUF_INIT;
    const char *verb = op == POSTFIX_STOP ? "stop" : "start";
    const char *neg = op == POSTFIX_STOP ? "" : "! ";
    bool timed = t != NULL && op != POSTFIX_STATUS;
    int r = SS_ERR;

    *out = NULL;
    if (wait_s < 0 || wait_s > 3600)
        return errbuf_set(err, SS_EINVAL, "service wait %d s is out of range",
                          wait_s);
    if ((size_t)svc >= sizeof(service_names) / sizeof(service_names[0]))
        return errbuf_set(err, SS_EINVAL, "unknown service manager");
    if (buf_adds(&b, PREAMBLE) < 0 || commands_dirs(&b, dirs) < 0)
        goto out;
    if (timed && (r = commands_timer_vars(&b, t, op, err)) < 0) {
        buf_release(&b);
        return r;
    }
    if (svc == POSTFIX_SERVICE_NONE)
        r = buf_adds(&b, DETECT_SERVICE "echo \"$v\"\n");
    else
        r = buf_printf(&b, "v=%s\necho %s\n", service_names[svc],
                       service_names[svc]);
    if (r < 0)
        goto out;
    r = SS_ERR;
    if (op == POSTFIX_STATUS) {
        if (buf_adds(&b, "running\n") < 0)
            goto out;
        goto done;
    }
    /*
     * The verb runs only when the state disagrees: a start of a Postfix
     * already running outside systemd would leave a failed unit, and a
     * second "postfix start" or "postfix abort" fails through postlog's
     * fatal, which sleeps a second.  Running is what master -t says after
     * the verb.  A stop arms the timer and notes its clock only when it
     * stops Postfix itself: a Postfix found stopped is not this run's to
     * start again.
     */
    if (buf_printf(&b, "if %srunning; then ", neg) < 0)
        goto out;
    if (timed && op == POSTFIX_STOP &&
        (buf_adds(&b, "\n[ -d \"$S\" ] || mkdir -p -m 700 \"$S\" "
                      "2>/dev/null\n") < 0 ||
         (t->restart_after > 0 && buf_adds(&b, ARM_TIMER) < 0) ||
         buf_adds(&b, NOTE_STOP) < 0))
        goto out;
    if (timed && op == POSTFIX_START && buf_adds(&b, QUICK_START) < 0)
        goto out;
    if (commands_service_verb(&b, svc, verb) < 0 ||
        buf_printf(&b, " >/dev/null 2>&1 </dev/null || true; fi\n" POLL_SERVICE,
                   neg, wait_s * 10, verb) < 0)
        goto out;
    if (timed && buf_adds(&b, op == POSTFIX_STOP ? SAY_TIMER : SAY_DOWN) < 0)
        goto out;
done:
    *out = buf_detach(&b);
    r = 0;
out:
    buf_release(&b);
    if (r < 0)
        errbuf_set(err, r, "out of memory");
    return r;
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

/*
 * The snapshot writes the tar to queue.tar.tmp and renames it, keeps an
 * existing one (a resumed run must not replace the pre-purge copy), then
 * streams it on stdout: the evidence copy comes back in the same command,
 * hashed by the controller as it arrives (the SSH channel's MAC guards the
 * bytes on the way).  The queue listing is not made here: the identify pass
 * before the snapshot keeps it (the same queue, Postfix being stopped).
 */
static const char snapshot_body[] =
    "mkdir -p \"$d\" || exit 3\n"
    "if [ ! -f \"$d/queue.tar\" ]; then\n"
    "  %s"
    "  tar -cpf \"$d/queue.tar.tmp\" --numeric-owner --ignore-failed-read "
    "--no-recursion -T \"$d/paths\" 2>\"$d/tar.err\"\n"
    "  [ $? -le 1 ] || { cat \"$d/tar.err\" >&2; exit 3; }\n"
    "  mv -f \"$d/queue.tar.tmp\" \"$d/queue.tar\" || exit 3\n"
    "fi\n"
    "exec cat -- \"$d/queue.tar\"\n";

/* Builds the snapshot command; see postfix.h. */
int postfix_snapshot_command(char **out, const char *dir, bool all,
                             const struct postfix_dirs *dirs,
                             struct errbuf *err)
{
    struct buf b = BUF_INIT;
    int r;

    *out = NULL;
    if ((r = commands_check_path(dir, "snapshot folder", err)) < 0)
        return r;
    r = SS_ERR;
    if (buf_adds(&b, PREAMBLE) < 0 || commands_assign(&b, "d", dir) < 0 ||
        buf_adds(&b, "umask 077\n") < 0 || commands_enter(&b, dirs) < 0)
        goto out;
    if (all)
        r = buf_printf(&b, snapshot_body,
                       "find " MESSAGE_QUEUES " " LOG_QUEUES
                       " -type f >\"$d/paths\" 2>/dev/null\n");
    else
        /* ids on stdin, checked again here; file names are ids */
        r = buf_printf(
            &b, snapshot_body,
            "grep -E '^[0-9A-Za-z]+$' >\"$d/ids\"\n"
            "  find " MESSAGE_QUEUES " " LOG_QUEUES
            " -type f 2>/dev/null | awk 'NR == FNR { want[$0] = 1; next } "
            "{ n = split($0, p, \"/\"); if (p[n] in want) print }' "
            "\"$d/ids\" - >\"$d/paths\"\n");
    if (r < 0)
        goto out;
    *out = buf_detach(&b);
    r = 0;
out:
    buf_release(&b);
    if (r < 0)
        errbuf_set(err, r, "out of memory");
    return r;
}

/*
 * A snapshot is restored once: restored messages get new ids (postsuper -s
 * renames them to their inode), so a second restore could not recognise
 * them and would queue every message twice.
 */
#define RESTORED_ONCE                                                          \
    "if [ -f \"$t.restored\" ]; then echo 'restored 0'; exit 0; fi\n"

static const char restore_in_place[] =
    "if running; then "
    "echo \"postfix is running: stop it before an in-place restore\" >&2; "
    "exit 75; fi\n[ -f \"$t\" ] || { echo \"no snapshot at $t\" "
    ">&2; exit 3; }\n" RESTORED_ONCE "n=$(tar -tf \"$t\" | grep -c -E "
    "'^(deferred|active|incoming|hold|maildrop)/')\n"
    "tar -xpf \"$t\" --same-owner --numeric-owner --warning=no-timestamp "
    "|| exit 3\n"
    "postsuper -s >/dev/null 2>&1 || true\n"
    "touch \"$t.restored\"\n"
    "echo \"restored $n\"\n";

static const char restore_to_hold[] =
    "[ -f \"$t\" ] || { echo \"no snapshot at $t\" >&2; exit 3; }\n"
    "s=\"${t%/*}/restore.$$\"\n"
    "rm -rf \"$s\" && mkdir -p \"$s\" && "
    "tar -C \"$s\" -xpf \"$t\" --same-owner --numeric-owner "
    "--warning=no-timestamp || exit 3\n"
    "n=0\n"
    "(cd \"$s\" && find deferred active incoming hold -type f 2>/dev/null) |"
    " {\n"
    "while IFS= read -r f; do\n"
    "  b=${f##*/}\n"
    "  if [ -e \"$f\" ] || [ -e \"hold/$b\" ]; then continue; fi\n"
    "  mv -f \"$s/$f\" \"hold/$b\" && n=$((n + 1))\n"
    "done\n"
    "echo \"restored $n\"\n"
    "}\n"
    "rm -rf \"$s\"\n"
    "postsuper -s >/dev/null 2>&1 || true\n"
    "touch \"$t.restored\"\n";

/* Builds a restore command; see postfix.h. */
int postfix_restore_command(char **out, const char *tar_path,
                            enum postfix_restore_mode mode,
                            const struct postfix_dirs *dirs, struct errbuf *err)
{
    struct buf b = BUF_INIT;
    int r;

    *out = NULL;
    if ((r = commands_check_path(tar_path, "snapshot", err)) < 0)
        return r;
    r = SS_ERR;
    if (buf_adds(&b, PREAMBLE) < 0 || commands_assign(&b, "t", tar_path) < 0 ||
        commands_enter(&b, dirs) < 0 ||
        buf_adds(&b, mode == POSTFIX_RESTORE_IN_PLACE ? restore_in_place
                                                      : restore_to_hold) < 0)
        goto out;
    *out = buf_detach(&b);
    r = 0;
out:
    buf_release(&b);
    if (r < 0)
        errbuf_set(err, r, "out of memory");
    return r;
}

/* Builds a postsuper command with ids on stdin; see postfix.h. */
int postfix_postsuper_command(char **out, enum postfix_postsuper_op op,
                              bool require_stopped,
                              const struct postfix_dirs *dirs,
                              struct errbuf *err)
{
    struct buf b = BUF_INIT;
    const char *args;
    int r = SS_ERR;

    *out = NULL;
    switch (op) {
    case POSTFIX_HOLD: args = "-h -"; break;
    case POSTFIX_RELEASE: args = "-H -"; break;
    case POSTFIX_DELETE: args = "-d - hold"; break;
    default: return errbuf_set(err, SS_EINVAL, "unknown postsuper operation");
    }
    if (buf_adds(&b, PREAMBLE) < 0 ||
        (require_stopped &&
         (commands_dirs(&b, dirs) < 0 || buf_adds(&b, REQUIRE_STOPPED) < 0)) ||
        buf_adds(&b, POSTSUPER_BUFFERED_OPEN
                 "grep -E '^[0-9A-Za-z]+$' | postsuper ") < 0 ||
        buf_adds(&b, args) < 0 ||
        buf_adds(&b, POSTSUPER_BUFFERED_CLOSE "exit $s\n") < 0)
        goto out;
    *out = buf_detach(&b);
    r = 0;
out:
    buf_release(&b);
    if (r < 0)
        errbuf_set(err, r, "out of memory");
    return r;
}

/*
 * "ID INODE SIZE CTIME" of every hold/ file: what the hold records and the
 * commit compares, so both must print it the same way.
 */
#define HELD_LIST "find hold -type f -printf '%f %i %s %C@\\n' 2>/dev/null | "

/* Prints the HELD_LIST lines of the ids named in file $t. */
#define HELD_RECORD                                                            \
    HELD_LIST "awk 'NR == FNR { want[$1] = 1; next } ($1 in want)' \"$t\" -"

/*
 * The hold and its record in one command: the record is taken while
 * Postfix is still stopped, right after postsuper moved the files (a
 * rename: the inode stays, the ctime becomes the hold's).
 */
static const char hold_record_head[] = PREAMBLE "LC_ALL=C; export LC_ALL\n";
static const char hold_record_body[] = REQUIRE_STOPPED
    "umask 077\n"
    "t=$(mktemp) || exit 3\n"
    "trap 'rm -f \"$t\"' EXIT\n"
    "grep -E '^[0-9A-Za-z]+$' >\"$t\"\n" POSTSUPER_BUFFERED(
        "postsuper -h - <\"$t\"") "[ $s -eq 0 ] || exit $s\n" HELD_RECORD "\n";

/* Returns the hold-and-record script; see postfix.h. */
char *postfix_hold_record_command(const struct postfix_dirs *dirs)
{
    return commands_join(hold_record_head, dirs, hold_record_body);
}

/*
 * The commit's delete: an id whose hold/ file has the recorded inode, size
 * and ctime is the file we held (a replaced or re-created file has another
 * inode or a later ctime; a rewritten one a later ctime), so its envelope
 * is the one identify read.
 */
static const char held_delete_head[] = PREAMBLE "LC_ALL=C; export LC_ALL\n";
static const char held_delete_body[] =
    "umask 077\n"
    "t=$(mktemp) || exit 3\n"
    "trap 'rm -f \"$t\" \"$t.del\"' EXIT\n"
    "grep -E '^[0-9A-Za-z]+ [0-9]+ [0-9]+ [0-9]+(\\.[0-9]+)?$' "
    ">\"$t\"\n" HELD_LIST "awk -v T=\"$t\" -v D=\"$t.del\" "
    "'BEGIN { while ((getline l < T) > 0) { want[l] = 1; c++ }; "
    "printf \"\" >D }\n"
    "($0 in want) { print $1 >D; m++ }\n"
    "END { print \"checked \" c + 0 \" matched \" m + 0 "
    "}'\n" POSTSUPER_BUFFERED("postsuper -d - hold <\"$t.del\"") "exit $s\n";

/* Returns the commit's delete script; see postfix.h. */
char *postfix_held_delete_command(const struct postfix_dirs *dirs)
{
    return commands_join(held_delete_head, dirs, held_delete_body);
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
