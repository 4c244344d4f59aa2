/* Unit tests of inventories: INI, JSON, variable precedence, --limit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "spamstop/inventory.h"

/* Parses text, failing the test on error. */
static struct inventory *parse_ok(const char *text)
{
    struct inventory *inv = NULL;
    struct errbuf err = ERRBUF_INIT;

    if (inventory_parse_string(&inv, text, strlen(text), "t.ini", &err) != 0)
        fail_msg("parse failed: %s", err.msg);
    return inv;
}

/* Expects a parse error whose message holds want. */
static void parse_bad(const char *text, const char *want)
{
    struct inventory *inv = NULL;
    struct errbuf err = ERRBUF_INIT;
    int r = inventory_parse_string(&inv, text, strlen(text), "t.ini", &err);

    if (r != SS_EINVAL || strstr(err.msg, want) == NULL)
        fail_msg("input '%s': got %d '%s', wanted '%s'", text, r, err.msg,
                 want);
    assert_null(inv);
}

/* Selects with pattern and returns the names joined by spaces. */
static char *names(const struct inventory *inv, const char *pattern)
{
    static char out[1024];
    struct exec_target *t = NULL;
    struct errbuf err = ERRBUF_INIT;
    size_t n = 0, i;

    if (inventory_select(&t, &n, inv, pattern, &err) != 0)
        fail_msg("select '%s' failed: %s", pattern, err.msg);
    out[0] = '\0';
    for (i = 0; i < n; i++) {
        if (i > 0)
            strcat(out, " ");
        strcat(out, t[i].name);
    }
    inventory_targets_free(t, n);
    return out;
}

/* Finds the target named name in a selection of everything. */
static void target_of(const struct inventory *inv, const char *name,
                      struct exec_target *out)
{
    struct exec_target *t = NULL;
    struct errbuf err = ERRBUF_INIT;
    size_t n = 0, i;

    assert_int_equal(inventory_select(&t, &n, inv, NULL, &err), 0);
    for (i = 0; i < n; i++) {
        if (strcmp(t[i].name, name) == 0) {
            assert_int_equal(exec_target_copy(out, &t[i]), 0);
            inventory_targets_free(t, n);
            return;
        }
    }
    inventory_targets_free(t, n);
    fail_msg("no host '%s'", name);
}

/* The fixture fleet.ini: hosts, order, resolved settings. */
static void test_inventory_fleet(void **state)
{
    struct inventory *inv = NULL;
    struct errbuf err = ERRBUF_INIT;
    struct exec_target t;

    (void)state;
    assert_int_equal(
        inventory_load(&inv, FIXTURES_DIR "/inventory/fleet.ini", &err), 0);
    assert_int_equal(inventory_count(inv), 6);
    assert_string_equal(names(inv, NULL),
                        "h3 h1 h2 spare01.example.net spare02.example.net "
                        "spare03.example.net");
    target_of(inv, "h1", &t);
    assert_string_equal(t.address, "10.77.0.11");
    assert_string_equal(t.user, "root");
    assert_int_equal(t.port, 22);
    assert_false(t.become);
    exec_target_release(&t);
    target_of(inv, "h2", &t);
    assert_string_equal(t.address, "10.77.0.12");
    assert_string_equal(t.user, "deploy");
    assert_true(t.become);
    assert_int_equal(t.port, 22);
    exec_target_release(&t);
    target_of(inv, "h3", &t);
    assert_string_equal(t.address, "10.77.0.13");
    assert_null(t.user);
    assert_false(t.become);
    exec_target_release(&t);
    target_of(inv, "spare02.example.net", &t);
    assert_null(t.address);
    assert_int_equal(t.port, 2222);
    exec_target_release(&t);
    inventory_free(inv);
}

/* --limit: names, groups, globs, regexes, lists, exclusion, intersection. */
static void test_inventory_limit(void **state)
{
    struct inventory *inv = NULL;
    struct errbuf err = ERRBUF_INIT;
    struct exec_target *t = NULL;
    size_t n = 0;

    (void)state;
    assert_int_equal(
        inventory_load(&inv, FIXTURES_DIR "/inventory/fleet.ini", &err), 0);
    assert_string_equal(names(inv, "mail"), "h1 h2");
    assert_string_equal(names(inv, "plesk"), "h1");
    assert_string_equal(names(inv, "h2"), "h2");
    assert_string_equal(names(inv, "plesk,h3"), "h3 h1");
    assert_string_equal(names(inv, "plesk:plain"), "h1 h2");
    assert_string_equal(names(inv, "all:!spare"), "h3 h1 h2");
    assert_string_equal(names(inv, "all,!spare,!h1"), "h3 h2");
    assert_string_equal(names(inv, "!spare"), "h3 h1 h2");
    assert_string_equal(names(inv, "mail:&plain"), "h2");
    assert_string_equal(names(inv, "&mail,&plesk"), "h1");
    assert_string_equal(names(inv, "ungrouped"), "h3");
    assert_string_equal(names(inv, "h*"), "h3 h1 h2");
    assert_string_equal(names(inv, "spare0[12]*"),
                        "spare01.example.net spare02.example.net");
    assert_string_equal(names(inv, "~h[12]$"), "h1 h2");
    assert_string_equal(names(inv, "pl*"), "h1 h2");
    assert_string_equal(names(inv, " h1 , h2 "), "h1 h2");
    assert_string_equal(names(inv, "*"), names(inv, "all"));
    /* Typos are errors, also in an exclusion. */
    assert_int_equal(inventory_select(&t, &n, inv, "mial", &err), SS_EINVAL);
    assert_non_null(strstr(err.msg, "'mial' matches no host or group"));
    assert_int_equal(inventory_select(&t, &n, inv, "mail:!h4", &err),
                     SS_EINVAL);
    assert_int_equal(inventory_select(&t, &n, inv, "zz*", &err), SS_EINVAL);
    assert_int_equal(inventory_select(&t, &n, inv, "plesk:&plain", &err),
                     SS_EINVAL);
    assert_non_null(strstr(err.msg, "selects no host"));
    assert_int_equal(inventory_select(&t, &n, inv, "~(", &err), SS_EINVAL);
    assert_int_equal(inventory_select(&t, &n, inv, "~h++++++++", &err),
                     SS_EINVAL);
    assert_non_null(strstr(err.msg, "too complex"));
    assert_int_equal(inventory_select(&t, &n, inv, "~(h{1,99}){1,99}", &err),
                     SS_EINVAL);
    assert_null(t);
    inventory_free(inv);
}

/* Child group vars beat parents; same depth: later name wins; host wins. */
static void test_inventory_precedence(void **state)
{
    struct inventory *inv;
    struct exec_target t;

    (void)state;
    inv = parse_ok("[all:vars]\nansible_user=a\nansible_port=1\n"
                   "[parent:children]\nchild\n"
                   "[parent:vars]\nansible_user=p\nansible_port=2\n"
                   "[child]\nx\ny ansible_user=host\n"
                   "[child:vars]\nansible_user=c\n"
                   "[alpha]\nx\n[alpha:vars]\nansible_port=3\n"
                   "[beta]\nx\n[beta:vars]\nansible_port=4\n"
                   "ansible_become=yes\n");
    target_of(inv, "x", &t);
    assert_string_equal(t.user, "c");
    /* alpha, beta and parent are all depth 1: by name, parent is last. */
    assert_int_equal(t.port, 2);
    assert_true(t.become);
    exec_target_release(&t);
    target_of(inv, "y", &t);
    assert_string_equal(t.user, "host");
    assert_int_equal(t.port, 2);
    assert_false(t.become);
    exec_target_release(&t);
    inventory_free(inv);
}

/* Ranges, ports, quotes, comments, IPv6, CRLF. */
static void test_inventory_ini_forms(void **state)
{
    struct inventory *inv;
    struct exec_target t;

    (void)state;
    inv = parse_ok("# comment\r\n; another\r\n"
                   "web[a:c] ansible_user='ops'\r\n"
                   "db[1:7:3]\n"
                   "mx[08:10].example.net:2200\n"
                   "[::1]:2201\n"
                   "fe80::1 ansible_become=False\n"
                   "[g]   # trailing comment\n"
                   "srv ansible_host=10.0.0.1 # a comment\n");
    assert_string_equal(names(inv, NULL),
                        "weba webb webc db1 db4 db7 mx08.example.net "
                        "mx09.example.net mx10.example.net ::1 fe80::1 srv");
    target_of(inv, "webb", &t);
    assert_string_equal(t.user, "ops");
    exec_target_release(&t);
    target_of(inv, "mx09.example.net", &t);
    assert_int_equal(t.port, 2200);
    exec_target_release(&t);
    target_of(inv, "::1", &t);
    assert_int_equal(t.port, 2201);
    exec_target_release(&t);
    target_of(inv, "srv", &t);
    assert_string_equal(t.address, "10.0.0.1");
    exec_target_release(&t);
    assert_string_equal(names(inv, "g"), "srv");
    inventory_free(inv);
}

/* Bad INI input: SS_EINVAL naming file and line. */
static void test_inventory_ini_errors(void **state)
{
    (void)state;
    parse_bad("a\nb ansible_port=70000\n", "t.ini:2: ansible_port '70000'");
    parse_bad("a ansible_port=x\n", "t.ini:1: ansible_port");
    parse_bad("\n\na ansible_become=maybe\n", "t.ini:3: ansible_become");
    parse_bad("a ansible_user=\"open\n", "t.ini:1: unclosed quote");
    parse_bad("[g:weird]\n", "t.ini:1: unknown section type 'weird'");
    parse_bad("[g\n", "t.ini:1: section header");
    parse_bad("[g]\nh novalue\n", "t.ini:2: expected key=value");
    parse_bad("[g:vars]\nnovalue\n", "t.ini:2: expected key=value");
    parse_bad("[a:children]\nb\n[b:children]\na\n", "cycle");
    parse_bad("[a:children]\na\n", "t.ini:2: group 'a' is its own child");
    parse_bad("[g:children]\nall\n", "t.ini:2: group 'all' cannot be a child");
    parse_bad("h:99999\n", "t.ini:1: bad port");
    parse_bad("-oProxyCommand=x\n", "t.ini:1: host name '-oProxyCommand=x'");
    parse_bad("h ansible_host=-oProxy\n", "starts with '-'");
    parse_bad("h ansible_user='a b'\n", "t.ini:1: ansible_user 'a b' holds");
    parse_bad("h[1:3\n", "t.ini:1:");
    parse_bad("h[3:1]\n", "t.ini:1: bad host range");
    parse_bad("h[0:99999]\n", "more than 10000 hosts");
    parse_bad("[g*]\n", "t.ini:1: group name 'g*'");
    {
        struct inventory *inv = NULL;
        struct errbuf err = ERRBUF_INIT;
        assert_int_equal(inventory_parse_string(&inv, "a\0b", 3, "n.ini", &err),
                         SS_EINVAL);
        assert_non_null(strstr(err.msg, "NUL"));
        assert_int_equal(inventory_load(&inv, "/nonexistent.ini", &err),
                         SS_EINVAL);
        assert_non_null(strstr(err.msg, "/nonexistent.ini"));
    }
}

/* Both JSON layouts Ansible reads. */
static void test_inventory_json(void **state)
{
    struct inventory *inv;
    struct exec_target t;

    (void)state;
    /* ansible-inventory --list / inventory script output. */
    inv = parse_ok("{\"_meta\":{\"hostvars\":{\"h1\":{\"ansible_host\":"
                   "\"10.0.0.1\",\"ansible_port\":2222,\"other\":[1]},"
                   "\"h2\":{\"ansible_become\":true,\"ansible_port\":\"23\"}}},"
                   "\"all\":{\"children\":[\"ungrouped\",\"mail\"]},"
                   "\"mail\":{\"hosts\":[\"h1\",\"h2\"],\"vars\":"
                   "{\"ansible_user\":\"deploy\"}},"
                   "\"extra\":[\"h3\"]}");
    assert_string_equal(names(inv, NULL), "h1 h2 h3");
    assert_string_equal(names(inv, "mail"), "h1 h2");
    target_of(inv, "h1", &t);
    assert_string_equal(t.address, "10.0.0.1");
    assert_int_equal(t.port, 2222);
    assert_string_equal(t.user, "deploy");
    exec_target_release(&t);
    target_of(inv, "h2", &t);
    assert_true(t.become);
    assert_int_equal(t.port, 23);
    exec_target_release(&t);
    inventory_free(inv);
    /* The YAML layout written as JSON. */
    inv = parse_ok("  {\"all\":{\"vars\":{\"ansible_user\":\"root\"},"
                   "\"hosts\":{\"lone\":null},"
                   "\"children\":{\"plesk\":{\"hosts\":{\"p1\":"
                   "{\"ansible_host\":\"10.1.1.1\"}},\"children\":{\"eu\":"
                   "{\"hosts\":{\"p2\":{}},\"vars\":{\"ansible_become\":"
                   "\"yes\"}}}}}}}");
    assert_string_equal(names(inv, NULL), "lone p1 p2");
    assert_string_equal(names(inv, "plesk"), "p1 p2");
    assert_string_equal(names(inv, "eu"), "p2");
    assert_string_equal(names(inv, "ungrouped"), "lone");
    target_of(inv, "p2", &t);
    assert_true(t.become);
    assert_string_equal(t.user, "root");
    exec_target_release(&t);
    inventory_free(inv);
    parse_bad("{\"g\":{\"hosts\":[1]}}", "t.ini: group 'g': a host is not");
    parse_bad("{\"g\":{\"hostz\":[]}}", "unknown key 'hostz'");
    parse_bad("{\"_meta\":{\"hostvars\":{\"h\":{\"ansible_port\":0}}}}",
              "t.ini: host 'h': ansible_port '0'");
    parse_bad("{\"g\":{\"vars\":{\"ansible_become\":[]}}}", "wrong JSON type");
    parse_bad("{\n\"g\": [\"a\",]\n}", "t.ini:2:");
    parse_bad("{\"a\":{\"children\":[\"b\"]},\"b\":{\"children\":[\"a\"]}}",
              "cycle");
    parse_bad("{\"a\":1,\"a\":2}", "t.ini:");
}

/* Hosts named on the command line. */
static void test_inventory_add_host(void **state)
{
    struct inventory *inv = inventory_new();
    struct errbuf err = ERRBUF_INIT;

    (void)state;
    assert_non_null(inv);
    assert_int_equal(inventory_add_host(inv, "mx1.example.net", &err), 0);
    assert_int_equal(inventory_add_host(inv, "mx2.example.net", &err), 0);
    assert_int_equal(inventory_add_host(inv, "mx1.example.net", &err), 0);
    assert_int_equal(inventory_add_host(inv, "-oProxyCommand=sh", &err),
                     SS_EINVAL);
    assert_int_equal(inventory_add_host(inv, "a b", &err), SS_EINVAL);
    assert_int_equal(inventory_add_host(inv, "", &err), SS_EINVAL);
    assert_int_equal(inventory_count(inv), 2);
    assert_string_equal(names(inv, "mx2*"), "mx2.example.net");
    inventory_free(inv);
    inventory_free(NULL);
}

/* Many hosts: lookups stay fast (the index), the cap holds. */
static void test_inventory_many(void **state)
{
    struct inventory *inv;

    (void)state;
    inv = parse_ok("[a]\nh[00000:09999]\n[b]\ng[00000:09999]\n"
                   "[c:children]\na\nb\n");
    assert_int_equal(inventory_count(inv), 20000);
    assert_string_equal(names(inv, "h09999,g00000"), "h09999 g00000");
    inventory_free(inv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inventory_fleet),
        cmocka_unit_test(test_inventory_limit),
        cmocka_unit_test(test_inventory_precedence),
        cmocka_unit_test(test_inventory_ini_forms),
        cmocka_unit_test(test_inventory_ini_errors),
        cmocka_unit_test(test_inventory_json),
        cmocka_unit_test(test_inventory_add_host),
        cmocka_unit_test(test_inventory_many),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
