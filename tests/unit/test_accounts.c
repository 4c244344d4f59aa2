/* Unit tests of lib/accounts: passwords, hashes, backend scripts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fake_tool.h"
#include "spamstop/accounts.h"
#include "spamstop/error.h"
#include "spamstop/fsio.h"

/* 2,000 passwords: right length and alphabet, every character used. */
static void test_password_generate(void **state)
{
    struct errbuf err = ERRBUF_INIT;
    char pw[ACCOUNTS_PASSWORD_LEN + 1], prev[ACCOUNTS_PASSWORD_LEN + 1] = "";
    size_t seen[256] = {0}, i, j, alphabet = strlen(accounts_password_alphabet);

    (void)state;
    assert_int_equal(alphabet, 56);
    for (i = 0; i < 2000; i++) {
        assert_int_equal(accounts_password_generate(pw, sizeof(pw), &err), 0);
        assert_int_equal(strlen(pw), ACCOUNTS_PASSWORD_LEN);
        assert_string_not_equal(pw, prev);
        /* mixed, for password policies (Plesk's "strong") */
        assert_non_null(strpbrk(pw, "abcdefghijkmnpqrstuvwxyz"));
        assert_non_null(strpbrk(pw, "ABCDEFGHJKLMNPQRSTUVWXYZ"));
        assert_non_null(strpbrk(pw, "23456789"));
        for (j = 0; j < ACCOUNTS_PASSWORD_LEN; j++) {
            assert_non_null(strchr(accounts_password_alphabet, pw[j]));
            seen[(unsigned char)pw[j]]++;
        }
        memcpy(prev, pw, sizeof(pw));
    }
    /* 40,000 draws over 56 symbols: each about 714; no symbol starved */
    for (j = 0; j < alphabet; j++) {
        size_t c = seen[(unsigned char)accounts_password_alphabet[j]];
        assert_true(c > 550 && c < 900);
    }
    assert_int_equal(accounts_password_generate(pw, 20, &err), SS_EINVAL);
}

/* Runs a shell command line; returns its exit status. */
static int sh(const char *cmd)
{
    int st = system(cmd);

    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* SHA512-CRYPT with a fresh salt; verified by us and by doveadm. */
static void test_hash(void **state)
{
    struct errbuf err = ERRBUF_INIT;
    char h1[ACCOUNTS_HASH_MAX], h2[ACCOUNTS_HASH_MAX], cmd[600];

    (void)state;
    assert_int_equal(accounts_hash_password(h1, sizeof(h1), "s3cret", &err), 0);
    assert_int_equal(accounts_hash_password(h2, sizeof(h2), "s3cret", &err), 0);
    assert_memory_equal(h1, "{SHA512-CRYPT}$6$", 17);
    assert_string_not_equal(h1, h2); /* salted */
    assert_true(accounts_password_matches("s3cret", h1));
    assert_true(accounts_password_matches("s3cret", h1 + 14));
    assert_false(accounts_password_matches("s3creT", h1));
    assert_int_equal(accounts_hash_password(h1, 10, "x", &err), SS_EINVAL);
    if (access("/usr/bin/doveadm", X_OK) == 0) {
        snprintf(cmd, sizeof(cmd),
                 "doveadm pw -t '%s' -p s3cret >/dev/null 2>&1", h2);
        assert_int_equal(sh(cmd), 0);
        snprintf(cmd, sizeof(cmd),
                 "doveadm pw -t '%s' -p wrong >/dev/null 2>&1", h2);
        assert_int_not_equal(sh(cmd), 0);
    }
}

/* Runs script with input on stdin, fake tools first on PATH. */
static int run_script(const char *dir, const char *script, const char *input,
                      size_t input_len)
{
    struct errbuf err = ERRBUF_INIT;
    char path[512], cmd[1200];

    snprintf(path, sizeof(path), "%s/script.sh", dir);
    assert_int_equal(
        fsio_write_atomic(path, script, strlen(script), 0600, &err), 0);
    snprintf(path, sizeof(path), "%s/stdin", dir);
    assert_int_equal(fsio_write_atomic(path, input, input_len, 0600, &err), 0);
    snprintf(cmd, sizeof(cmd),
             "cd %s && PATH=%s/bin:$PATH sh script.sh <stdin >stdout "
             "2>stderr",
             dir, dir);
    return sh(cmd);
}

/* Reads dir/name into a static buffer. */
static const char *slurp(const char *dir, const char *name)
{
    static char *data;
    struct errbuf err = ERRBUF_INIT;
    char path[512];
    size_t len;

    free(data);
    data = NULL;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (fsio_read_file(&data, &len, path, 1 << 20, &err) < 0)
        return "";
    return data;
}

static const char users[] =
    "alice@example.test:{SHA512-CRYPT}$6$old$alice::::::userdb_quota_rule=*:"
    "storage=1G\n"
    "bob@example.test:{SHA512-CRYPT}$6$old$bob\n"
    "alice@example.test.evil:{SHA512-CRYPT}$6$old$evil\n";

/*
 * Rotation on a real file with /bin/sh: only alice's hash changes, owner
 * and mode stay, the backup keeps the state before the first rotation,
 * and restore puts alice's old hash back (bob's later change stays).
 */
static void test_dovecot_rotate_restore(void **state)
{
    char dir[] = "/tmp/test_accounts.XXXXXX", file[300], backup[300];
    char hash[ACCOUNTS_HASH_MAX], hash2[ACCOUNTS_HASH_MAX], want[1024];
    struct errbuf err = ERRBUF_INIT;
    char *rot = NULL, *res = NULL, *in = NULL;
    size_t in_len;
    struct stat st;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(file, sizeof(file), "%s/users", dir);
    snprintf(backup, sizeof(backup), "%s/run 1/backup", dir);
    assert_int_equal(fsio_write_atomic(file, users, strlen(users), 0640, &err),
                     0);
    assert_int_equal(chmod(file, 0640), 0);
    assert_int_equal(accounts_dovecot_rotate_command(&rot, file, backup, &err),
                     0);
    assert_int_equal(accounts_dovecot_restore_command(&res, file, backup, &err),
                     0);

    assert_int_equal(accounts_hash_password(hash, sizeof(hash), "n1", &err), 0);
    assert_int_equal(
        accounts_dovecot_input(&in, &in_len, "alice@example.test", hash, &err),
        0);
    assert_int_equal(run_script(dir, rot, in, in_len), 0);
    free(in);
    snprintf(want, sizeof(want),
             "alice@example.test:%s::::::userdb_quota_rule=*:storage=1G\n"
             "bob@example.test:{SHA512-CRYPT}$6$old$bob\n"
             "alice@example.test.evil:{SHA512-CRYPT}$6$old$evil\n",
             hash);
    assert_string_equal(slurp(dir, "users"), want);
    assert_int_equal(stat(file, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0640);
    {
        char name[400];
        snprintf(name, sizeof(name), "run 1/backup/%s", file);
        for (char *p = name + strlen("run 1/backup/"); *p; p++)
            if (*p == '/')
                *p = '_';
        assert_string_equal(slurp(dir, name), users);
    }
    /* bob rotated too, then alice rotated again: backup unchanged */
    assert_int_equal(accounts_hash_password(hash2, sizeof(hash2), "n2", &err),
                     0);
    assert_int_equal(
        accounts_dovecot_input(&in, &in_len, "bob@example.test", hash2, &err),
        0);
    assert_int_equal(run_script(dir, rot, in, in_len), 0);
    free(in);
    /* undo alice: her old hash back, bob keeps his new one */
    assert_int_equal(
        accounts_address_input(&in, &in_len, "alice@example.test", &err), 0);
    assert_int_equal(run_script(dir, res, in, in_len), 0);
    assert_int_equal(run_script(dir, res, in, in_len), 0); /* twice: same */
    free(in);
    snprintf(want, sizeof(want),
             "alice@example.test:{SHA512-CRYPT}$6$old$alice::::::"
             "userdb_quota_rule=*:storage=1G\n"
             "bob@example.test:%s\n"
             "alice@example.test.evil:{SHA512-CRYPT}$6$old$evil\n",
             hash2);
    assert_string_equal(slurp(dir, "users"), want);

    /* an unknown account changes nothing and says so (exit 4) */
    assert_int_equal(
        accounts_dovecot_input(&in, &in_len, "nobody@example.test", hash, &err),
        0);
    assert_int_equal(run_script(dir, rot, in, in_len), 4);
    free(in);
    assert_string_equal(slurp(dir, "users"), want);
    /* hostile stdin is refused by the script itself (exit 2) */
    assert_int_equal(run_script(dir, rot, "a:b\nx\n", 6), 2);
    assert_int_equal(run_script(dir, rot, "alice@example.test\nplain\n", 25),
                     2);
    assert_string_equal(slurp(dir, "users"), want);
    /* ... and by the input builders before that */
    assert_int_equal(accounts_dovecot_input(&in, &in_len, "a b", hash, &err),
                     SS_EINVAL);
    assert_int_equal(accounts_dovecot_input(&in, &in_len, "a\n@b", hash, &err),
                     SS_EINVAL);
    assert_int_equal(accounts_dovecot_input(&in, &in_len, "a@b", "x:y", &err),
                     SS_EINVAL);
    assert_false(accounts_address_valid(""));
    assert_true(accounts_address_valid("a';touch /tmp/pwned;'@x") == false);
    assert_true(accounts_address_valid("o'brien@x"));
    free(rot);
    free(res);
    snprintf(want, sizeof(want), "rm -rf %s", dir);
    assert_int_equal(sh(want), 0);
}

/*
 * Plesk: a fake plesk records its argv and PSA_PASSWORD: the password is
 * in the environment it was given, never in argv or the command text.
 */
static void test_plesk(void **state)
{
    char dir[] = "/tmp/test_accounts.XXXXXX", path[300], cmd[600];
    struct errbuf err = ERRBUF_INIT;
    char pw[ACCOUNTS_PASSWORD_LEN + 1], *s = NULL, *in = NULL, *old = NULL;
    size_t in_len;
    FILE *f;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/bin", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof(path), "%s/bin/plesk", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f,
            "#!/bin/sh\n"
            "if [ \"$2\" = mail_auth_view ]; then\n"
            "echo '+---------+-------+----------+'\n"
            "echo '| address | flags | password |'\n"
            "echo '| o'\\''b@x.test |       | old pw x  |'\n"
            "echo '| c@x.test |       | other |'\n"
            "echo '| p|q$(x)@x.test    |       | pipe|pw    |'\n"
            "echo '| p@x.test |       | wrong |'\n"
            "exit 0; fi\n"
            "printf '%%s\\n' \"$@\" >%s/argv\n"
            "printf '%%s' \"$PSA_PASSWORD\" >%s/env\n",
            dir, dir);
    fclose(f);
    chmod(path, 0700);
    assert_int_equal(accounts_password_generate(pw, sizeof(pw), &err), 0);
    assert_int_equal(accounts_plesk_set_command(&s, "o'b@x.test", &err), 0);
    assert_null(strstr(s, pw));
    assert_non_null(strstr(s, "A='o'\\''b@x.test'\n"));
    assert_non_null(strstr(s, "--update \"$A\" -passwd ''"));
    assert_int_equal(accounts_plesk_input(&in, &in_len, pw, &err), 0);
    assert_int_equal(run_script(dir, s, in, in_len), 0);
    explicit_bzero(in, in_len);
    free(in);
    free(s);
    assert_string_equal(slurp(dir, "env"), pw);
    assert_null(strstr(slurp(dir, "argv"), pw));
    assert_string_equal(slurp(dir, "argv"),
                        "bin\nmail\n--update\no'b@x.test\n-passwd\n\n");
    /* reading the old password back (undo where recoverable) */
    assert_int_equal(accounts_plesk_read_command(&s, "O'B@x.test", &err), 0);
    assert_int_equal(run_script(dir, s, "", 0), 0);
    assert_int_equal(accounts_plesk_parse_password(&old, slurp(dir, "stdout"),
                                                   strlen(slurp(dir, "stdout")),
                                                   &err),
                     0);
    assert_string_equal(old, "old pw x");
    explicit_bzero(old, strlen(old));
    free(old);
    free(s);
    /* an address with the table's separator in it (issue 6) */
    assert_int_equal(accounts_plesk_read_command(&s, "p|q$(x)@x.test", &err),
                     0);
    assert_int_equal(run_script(dir, s, "", 0), 0);
    assert_string_equal(slurp(dir, "stdout"), "pipe|pw\n");
    free(s);
    assert_int_equal(accounts_plesk_read_command(&s, "none@x.test", &err), 0);
    assert_int_equal(run_script(dir, s, "", 0), 3);
    free(s);
    assert_int_equal(accounts_plesk_set_command(&s, "x\n@y", &err), SS_EINVAL);
    assert_int_equal(accounts_plesk_input(&in, &in_len, "a\nb", &err),
                     SS_EINVAL);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(sh(cmd), 0);
}

static const char look_names[] =
    "alice@example.test\nnobody@example.test\nalice@example.test.evil\n";

/*
 * The look on a Dovecot host (a fake doveconf naming a real file): the
 * backend lines, then an answer per name on stdin, exactly once in the
 * file; a missing file knows nobody; a bad name stops the script.
 */
static void test_look_dovecot(void **state)
{
    char dir[] = "/tmp/test_accounts.XXXXXX", file[300], body[600], cmd[400];
    struct errbuf err = ERRBUF_INIT;
    struct accounts_host h;
    char *s = accounts_look_command();
    const char *out;

    (void)state;
    if (sh("command -v plesk >/dev/null 2>&1") == 0)
        skip(); /* a plesk on PATH would win over the fake doveconf */
    assert_non_null(mkdtemp(dir));
    snprintf(file, sizeof(file), "%s/users", dir);
    assert_int_equal(fsio_write_atomic(file, users, strlen(users), 0640, &err),
                     0);
    snprintf(body, sizeof(body),
             "cat <<'X'\npassdb {\n  driver = pam\n}\npassdb {\n"
             "  args = scheme=SHA512-CRYPT username_format=%%u %s\n"
             "  driver = passwd-file\n}\nX\n",
             file);
    assert_int_equal(fake_tool(dir, "doveconf", body), 0);
    assert_int_equal(run_script(dir, s, look_names, strlen(look_names)), 0);
    out = slurp(dir, "stdout");
    assert_int_equal(accounts_look_parse(&h, out, strlen(out), &err), 0);
    assert_int_equal(h.backend, ACCOUNTS_BACKEND_DOVECOT);
    assert_string_equal(h.passwd_file, file);
    assert_int_equal(
        accounts_look_known(out, strlen(out), "alice@example.test", &err), 1);
    assert_int_equal(
        accounts_look_known(out, strlen(out), "nobody@example.test", &err), 0);
    assert_int_equal(
        accounts_look_known(out, strlen(out), "alice@example.test.evil", &err),
        1);
    assert_int_equal(
        accounts_look_known(out, strlen(out), "bob@example.test", &err),
        SS_EINVAL); /* not asked: no answer */
    /* no passwd-file at that path: nobody is known */
    assert_int_equal(unlink(file), 0);
    assert_int_equal(run_script(dir, s, look_names, strlen(look_names)), 0);
    out = slurp(dir, "stdout");
    assert_int_equal(
        accounts_look_known(out, strlen(out), "alice@example.test", &err), 0);
    /* hostile stdin is refused by the script itself */
    assert_int_equal(run_script(dir, s, "a:b\n", 4), 2);
    assert_int_equal(run_script(dir, s, "a b\n", 4), 2);
    free(s);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(sh(cmd), 0);
}

/*
 * The look on a Plesk host: plesk bin mail --info answers per account;
 * mail_auth_view's table, whatever its padding, says per account how the
 * password is stored (flag H, no password or a hash: hashed).
 */
static void test_look_plesk(void **state)
{
    static const char names[] = "alice@example.test\nnobody@example.test\n"
                                "alice@example.test.evil\nBob@example.test\n"
                                "carol@example.test\nerin@example.test\n";
    char dir[] = "/tmp/test_accounts.XXXXXX", cmd[400];
    struct errbuf err = ERRBUF_INIT;
    struct accounts_host h;
    enum accounts_storage st;
    char *s = accounts_look_command();
    const char *out;

    (void)state;
    assert_non_null(mkdtemp(dir));
    assert_int_equal(
        fake_tool(dir, "plesk",
                  "if [ \"$2\" = mail_auth_view ]; then\n"
                  "echo '+--------------------+-------+-----------+'\n"
                  "echo '|   address   |flags|  password |'\n"
                  "echo '|alice@example.test|E|  a pw  |'\n"
                  "echo '|    bob@example.test     |   H   |          |'\n"
                  "echo '| carol@example.test |  | $AES-128-CBC$x |'\n"
                  "echo '| erin@example.test  | E     | e|pw  |'\n"
                  "exit 0; fi\n"
                  "[ \"$1 $2 $3\" = 'bin mail --info' ] || exit 9\n"
                  "[ \"$4\" != nobody@example.test ] && "
                  "[ \"$4\" != alice@example.test.evil ]\n"),
        0);
    assert_int_equal(run_script(dir, s, names, strlen(names)), 0);
    out = slurp(dir, "stdout");
    assert_null(strstr(out, "a pw")); /* no password leaves the host */
    assert_null(strstr(out, "e|pw"));
    assert_int_equal(accounts_look_parse(&h, out, strlen(out), &err), 0);
    assert_int_equal(h.backend, ACCOUNTS_BACKEND_PLESK);
    assert_false(h.recoverable); /* decided per account, not here */
    assert_int_equal(accounts_look_storage(&st, out, strlen(out),
                                           "alice@example.test", &err),
                     0);
    assert_int_equal(st, ACCOUNTS_STORAGE_SYM);
    assert_int_equal(
        accounts_look_storage(&st, out, strlen(out), "erin@example.test", &err),
        0);
    assert_int_equal(st, ACCOUNTS_STORAGE_SYM);
    /* flag H and no password; the address without case */
    assert_int_equal(
        accounts_look_storage(&st, out, strlen(out), "Bob@example.test", &err),
        0);
    assert_int_equal(st, ACCOUNTS_STORAGE_HASHED);
    /* a hash is never taken for a password */
    assert_int_equal(accounts_look_storage(&st, out, strlen(out),
                                           "carol@example.test", &err),
                     0);
    assert_int_equal(st, ACCOUNTS_STORAGE_HASHED);
    assert_int_equal(accounts_look_storage(&st, out, strlen(out),
                                           "nobody@example.test", &err),
                     SS_EINVAL);
    assert_int_equal(
        accounts_look_known(out, strlen(out), "alice@example.test", &err), 1);
    assert_int_equal(
        accounts_look_known(out, strlen(out), "nobody@example.test", &err), 0);
    assert_int_equal(
        accounts_look_known(out, strlen(out), "alice@example.test.evil", &err),
        0);
    free(s);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(sh(cmd), 0);
}

/* How the look's per-account answers read: sym, hashed, other, none. */
static void test_look_storage(void)
{
    static const char t[] =
        "backend plesk\naccount a@x yes sym\naccount b@x yes hashed\n"
        "account c@x yes\naccount d@x yes odd\naccount e@x no\n";
    static const struct {
        const char *addr;
        int r;
        enum accounts_storage st;
    } want[] = {
        {"a@x", 0, ACCOUNTS_STORAGE_SYM},
        {"b@x", 0, ACCOUNTS_STORAGE_HASHED},
        {"c@x", 0, ACCOUNTS_STORAGE_OTHER},         /* Dovecot's plain "yes" */
        {"d@x", 0, ACCOUNTS_STORAGE_HASHED},        /* not "sym": hashed */
        {"e@x", SS_EINVAL, ACCOUNTS_STORAGE_OTHER}, /* unknown account */
        {"f@x", SS_EINVAL, ACCOUNTS_STORAGE_OTHER}, /* no answer */
    };
    struct errbuf err = ERRBUF_INIT;
    enum accounts_storage st;
    size_t i;

    for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        assert_int_equal(
            accounts_look_storage(&st, t, strlen(t), want[i].addr, &err),
            want[i].r);
        assert_int_equal(st, want[i].st);
    }
    assert_int_equal(accounts_look_known(t, strlen(t), "a@x", &err), 1);
    assert_int_equal(accounts_look_known(t, strlen(t), "e@x", &err), 0);
}

/* The look's output and its checks; its stdin. */
static void test_look_parse(void **state)
{
    struct errbuf err = ERRBUF_INIT;
    struct accounts_host h;
    const char *names[] = {"a@x", "o'b@x"}, *bad[] = {"a@x", "a b@x"}, *t;
    char *in = NULL;
    size_t in_len;

    (void)state;
    test_look_storage();
    t = "backend plesk\nrecoverable no\n";
    assert_int_equal(accounts_look_parse(&h, t, strlen(t), &err), 0);
    assert_int_equal(h.backend, ACCOUNTS_BACKEND_PLESK);
    assert_false(h.recoverable);
    t = "backend dovecot\nrecoverable yes\npasswd_file /etc/dovecot/users\n"
        "account a@x yes\naccount a@x.y no\naccount b@x maybe\n";
    assert_int_equal(accounts_look_parse(&h, t, strlen(t), &err), 0);
    assert_int_equal(h.backend, ACCOUNTS_BACKEND_DOVECOT);
    assert_true(h.recoverable);
    assert_string_equal(h.passwd_file, "/etc/dovecot/users");
    assert_int_equal(accounts_look_known(t, strlen(t), "a@x", &err), 1);
    assert_int_equal(accounts_look_known(t, strlen(t), "a@x.y", &err), 0);
    assert_int_equal(accounts_look_known(t, strlen(t), "b@x", &err), SS_EINVAL);
    assert_int_equal(accounts_look_known(t, strlen(t), "a@", &err), SS_EINVAL);
    t = "backend dovecot\npasswd_file /etc/dovecot/%d/users\n";
    assert_int_equal(accounts_look_parse(&h, t, strlen(t), &err), SS_EINVAL);
    t = "backend dovecot\n";
    assert_int_equal(accounts_look_parse(&h, t, strlen(t), &err), SS_EINVAL);
    t = "hello\n";
    assert_int_equal(accounts_look_parse(&h, t, strlen(t), &err), SS_EINVAL);
    t = "backend none\n";
    assert_int_equal(accounts_look_parse(&h, t, strlen(t), &err), 0);
    assert_int_equal(h.backend, ACCOUNTS_BACKEND_NONE);
    assert_int_equal(accounts_look_input(&in, &in_len, names, 2, &err), 0);
    assert_int_equal(in_len, 10);
    assert_memory_equal(in, "a@x\no'b@x\n", 10);
    free(in);
    assert_int_equal(accounts_look_input(&in, &in_len, bad, 2, &err),
                     SS_EINVAL);
    assert_null(in);
}

/*
 * Restore before any rotation (the controller died after journaling the
 * intent, before the command went out): nothing to put back, the file is
 * left alone, and that is success.
 */
static void test_dovecot_restore_without_rotation(void **state)
{
    char dir[] = "/tmp/test_accounts.XXXXXX", file[300], backup[300];
    struct errbuf err = ERRBUF_INIT;
    char *res = NULL, *in = NULL, cmd[400];
    size_t in_len;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(file, sizeof(file), "%s/users", dir);
    snprintf(backup, sizeof(backup), "%s/run 1/backup", dir);
    assert_int_equal(fsio_write_atomic(file, users, strlen(users), 0640, &err),
                     0);
    assert_int_equal(accounts_dovecot_restore_command(&res, file, backup, &err),
                     0);
    assert_int_equal(
        accounts_address_input(&in, &in_len, "alice@example.test", &err), 0);
    assert_int_equal(run_script(dir, res, in, in_len), 0);
    assert_string_equal(slurp(dir, "users"), users);
    assert_non_null(strstr(slurp(dir, "stdout"), "nothing to put back"));
    free(res);
    free(in);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(sh(cmd), 0);
}

/*
 * The password check: the ports to try reach the script as one quoted
 * word; its "smtp PORT MODE" line is read strictly (a port, one of three
 * modes); an unknown answer keeps the host's reason.
 */
static void test_auth_ports(void **state)
{
    static const unsigned ports[] = {25, 587, 465}, bad[] = {25, 70000};
    struct errbuf err = ERRBUF_INIT;
    enum accounts_smtp_mode mode;
    unsigned port;
    char *cmd = NULL, why[160];
    const char *out = "sasl cyrus\nsmtp 587 starttls\nauth ok a@x.test\n"
                      "auth unknown b@x.test smtpd offers no AUTH on "
                      "127.0.0.1:587\n";

    (void)state;
    assert_int_equal(accounts_auth_command(&cmd, ports, 3, &err), 0);
    assert_true(strncmp(cmd, "ports='25 587 465'\n", 19) == 0);
    assert_non_null(strstr(cmd, "smtpd_sasl_type"));
    free(cmd);
    assert_int_equal(accounts_auth_command(&cmd, bad, 2, &err), SS_EINVAL);
    assert_null(cmd);
    assert_non_null(strstr(err.msg, "bad smtp port 70000"));
    assert_int_equal(accounts_auth_command(&cmd, ports, 0, &err), SS_EINVAL);

    assert_int_equal(accounts_auth_smtp(&port, &mode, out, strlen(out)), 0);
    assert_int_equal(port, 587);
    assert_int_equal(mode, ACCOUNTS_SMTP_STARTTLS);
    assert_int_equal(
        accounts_auth_parse(out, strlen(out), "a@x.test", why, sizeof(why)),
        ACCOUNTS_AUTH_OK);
    assert_int_equal(
        accounts_auth_parse(out, strlen(out), "b@x.test", why, sizeof(why)),
        ACCOUNTS_AUTH_UNKNOWN);
    assert_string_equal(why, "smtpd offers no AUTH on 127.0.0.1:587");
    out = "smtp 465 tls\n";
    assert_int_equal(accounts_auth_smtp(&port, &mode, out, strlen(out)), 0);
    assert_int_equal(port, 465);
    assert_int_equal(mode, ACCOUNTS_SMTP_TLS);
    out = "smtp 25 plain";
    assert_int_equal(accounts_auth_smtp(&port, &mode, out, strlen(out)), 0);
    assert_int_equal(port, 25);
    assert_int_equal(mode, ACCOUNTS_SMTP_PLAIN);
    out = "sasl cyrus\nauth unknown a@x.test smtpd offers no AUTH\n";
    assert_int_equal(accounts_auth_smtp(&port, &mode, out, strlen(out)), -1);
    assert_int_equal(port, 0);
    out = "smtp 587 ssl\n";
    assert_int_equal(accounts_auth_smtp(&port, &mode, out, strlen(out)), -1);
    out = "smtp 99999 tls\n";
    assert_int_equal(accounts_auth_smtp(&port, &mode, out, strlen(out)), -1);
    out = "smtp 0 tls\n";
    assert_int_equal(accounts_auth_smtp(&port, &mode, out, strlen(out)), -1);
    out = "smtp x587 tls\n";
    assert_int_equal(accounts_auth_smtp(&port, &mode, out, strlen(out)), -1);
    out = "smtp 587 starttls x\n";
    assert_int_equal(accounts_auth_smtp(&port, &mode, out, strlen(out)), -1);
    assert_int_equal(accounts_auth_smtp(&port, &mode, NULL, 0), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_password_generate),
        cmocka_unit_test(test_hash),
        cmocka_unit_test(test_dovecot_rotate_restore),
        cmocka_unit_test(test_dovecot_restore_without_rotation),
        cmocka_unit_test(test_plesk),
        cmocka_unit_test(test_look_dovecot),
        cmocka_unit_test(test_look_plesk),
        cmocka_unit_test(test_look_parse),
        cmocka_unit_test(test_auth_ports),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
