/* Ansible's JSON inventory: script output (_meta) and the YAML layout. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "inventory/inv_int.h"

/* Sets one variable from a JSON value; unknown keys are ignored. */
static int json_inv_var(struct inv_vars *v, const char *key, json_t *val,
                        struct errbuf *err)
{
    char num[32];

    if (json_is_string(val))
        return inv_vars_set(v, key, json_string_value(val), err);
    if (json_is_integer(val)) {
        /* a sign and 19 digits at most: never cut */
        snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
                 json_integer_value(val));
        return inv_vars_set(v, key, num, err);
    }
    if (json_is_boolean(val) && strcmp(key, "ansible_become") == 0) {
        inv_vars_set_become(v, json_is_true(val));
        return 0;
    }
    if (strcmp(key, "ansible_host") == 0 || strcmp(key, "ansible_port") == 0 ||
        strcmp(key, "ansible_user") == 0 ||
        strcmp(key, "ansible_become") == 0 ||
        strcmp(key, "ansible_ssh_host") == 0 ||
        strcmp(key, "ansible_ssh_port") == 0 ||
        strcmp(key, "ansible_ssh_user") == 0)
        return errbuf_set(err, SS_EINVAL, "%s has the wrong JSON type", key);
    return 0;
}

/* Applies a vars object (or null) to v. */
static int json_inv_vars(struct inv_vars *v, json_t *vars, struct errbuf *err)
{
    const char *key;
    json_t *val;
    int r;

    if (json_is_null(vars) || vars == NULL)
        return 0;
    if (!json_is_object(vars))
        return errbuf_set(err, SS_EINVAL, "vars are not a JSON object");
    json_object_foreach(vars, key, val)
    {
        if ((r = json_inv_var(v, key, val, err)) < 0)
            return r;
    }
    return 0;
}

/* Adds host name to group g, with vars when given. */
static int json_inv_host(struct inventory *inv, size_t g, const char *name,
                         json_t *vars, struct errbuf *err)
{
    size_t h;
    int r;

    if ((r = inv_host_get(inv, &h, name, err)) < 0 ||
        (r = inv_add_member(inv, g, h, err)) < 0)
        return r;
    if ((r = json_inv_vars(&inv->hosts[h].vars, vars, err)) < 0)
        errbuf_prefix(err, "host '%.100s'", name);
    return r;
}

static int json_inv_group(struct inventory *inv, const char *name, json_t *def,
                          struct errbuf *err);

/* The members of a group definition: hosts, vars and children. */
static int json_inv_group_body(struct inventory *inv, size_t g, json_t *def,
                               struct errbuf *err)
{
    json_t *hosts, *children, *val;
    const char *key;
    size_t i, c;
    int r;

    if (json_is_null(def))
        return 0;
    if (json_is_array(def)) {
        json_array_foreach(def, i, val)
        {
            if (!json_is_string(val))
                return errbuf_set(err, SS_EINVAL, "a host is not a string");
            if ((r = json_inv_host(inv, g, json_string_value(val), NULL, err)) <
                0)
                return r;
        }
        return 0;
    }
    if (!json_is_object(def))
        return errbuf_set(err, SS_EINVAL, "not a list or an object");
    json_object_foreach(def, key, val)
    {
        if (strcmp(key, "hosts") != 0 && strcmp(key, "vars") != 0 &&
            strcmp(key, "children") != 0)
            return errbuf_set(err, SS_EINVAL,
                              "unknown key '%.60s' (hosts, vars or children)",
                              key);
    }
    hosts = json_object_get(def, "hosts");
    if (json_is_array(hosts)) {
        json_array_foreach(hosts, i, val)
        {
            if (!json_is_string(val))
                return errbuf_set(err, SS_EINVAL, "a host is not a string");
            if ((r = json_inv_host(inv, g, json_string_value(val), NULL, err)) <
                0)
                return r;
        }
    } else if (json_is_object(hosts)) {
        json_object_foreach(hosts, key, val)
        {
            if ((r = json_inv_host(inv, g, key, val, err)) < 0)
                return r;
        }
    } else if (hosts != NULL && !json_is_null(hosts)) {
        return errbuf_set(err, SS_EINVAL, "hosts is not a list or an object");
    }
    if ((r = json_inv_vars(&inv->groups[g].vars, json_object_get(def, "vars"),
                           err)) < 0)
        return r;
    children = json_object_get(def, "children");
    if (json_is_array(children)) {
        json_array_foreach(children, i, val)
        {
            if (!json_is_string(val))
                return errbuf_set(err, SS_EINVAL, "a child is not a string");
            if ((r = inv_group_get(inv, &c, json_string_value(val), err)) < 0 ||
                (r = inv_add_child(inv, g, c, err)) < 0)
                return r;
        }
    } else if (json_is_object(children)) {
        json_object_foreach(children, key, val)
        {
            if ((r = json_inv_group(inv, key, val, err)) < 0)
                return r;
            if ((r = inv_add_child(inv, g, inv_group_find(inv, key), err)) < 0)
                return r;
        }
    } else if (children != NULL && !json_is_null(children)) {
        return errbuf_set(err, SS_EINVAL,
                          "children is not a list or an object");
    }
    return 0;
}

/* One group definition, found or created by name. */
static int json_inv_group(struct inventory *inv, const char *name, json_t *def,
                          struct errbuf *err)
{
    size_t g;
    int r;

    if ((r = inv_group_get(inv, &g, name, err)) < 0)
        return r;
    if ((r = json_inv_group_body(inv, g, def, err)) < 0 && err != NULL &&
        strncmp(err->msg, "group '", 7) != 0)
        errbuf_prefix(err, "group '%.100s'", name);
    return r;
}

int inv_parse_json(struct inventory *inv, const char *text, size_t len,
                   const char *source, struct errbuf *err)
{
    json_error_t jerr;
    json_t *root, *meta, *hv, *val;
    const char *key;
    int r = SS_EINVAL;

    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL)
        return errbuf_set(err, SS_EINVAL, "%s:%d: %s", source, jerr.line,
                          jerr.text);
    if (!json_is_object(root)) {
        errbuf_set(err, SS_EINVAL, "%s: not a JSON object", source);
        goto out;
    }
    json_object_foreach(root, key, val)
    {
        if (strcmp(key, "_meta") == 0)
            continue;
        if ((r = json_inv_group(inv, key, val, err)) < 0)
            goto fail;
    }
    meta = json_object_get(root, "_meta");
    hv = json_object_get(meta, "hostvars");
    if (meta != NULL && !json_is_object(meta)) {
        r = errbuf_set(err, SS_EINVAL, "_meta is not an object");
        goto fail;
    }
    if (hv != NULL && !json_is_object(hv)) {
        r = errbuf_set(err, SS_EINVAL, "_meta.hostvars is not an object");
        goto fail;
    }
    json_object_foreach(hv, key, val)
    {
        if ((r = json_inv_host(inv, INV_GROUP_ALL, key, val, err)) < 0)
            goto fail;
    }
    r = 0;
    goto out;
fail:
    errbuf_prefix(err, "%s", source);
out:
    json_decref(root);
    return r;
}
