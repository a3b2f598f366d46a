/* owner.c - user and group lookup and the workers' privilege drop.
 * See owner.h. Gunicorn's own drop keeps root's supplementary groups when
 * initgroups is off and skips setgid when it is on; this one does neither
 * (docs/differences.md). */
#define _GNU_SOURCE /* initgroups */
#include "cunicorn/owner.h"

#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Gunicorn takes a value of digits as the id itself, anything else as a name. */
static bool numeric_id(const char *spec, unsigned long *id)
{
    if (*spec == '\0')
        return false;
    for (const char *s = spec; *s != '\0'; s++)
        if (!isdigit((unsigned char)*s))
            return false;
    *id = strtoul(spec, NULL, 10);
    return true;
}

int cn_owner_lookup_user(const char *spec, uid_t *uid, char *err)
{
    unsigned long id;
    if (!numeric_id(spec, &id)) {
        struct passwd *pw = getpwnam(spec);
        if (pw == NULL)
            return cn_err(err, "No such user: '%s'", spec);
        id = pw->pw_uid;
    }
    if (uid != NULL)
        *uid = (uid_t)id;
    return 0;
}

int cn_owner_lookup_group(const char *spec, gid_t *gid, char *err)
{
    unsigned long id;
    if (!numeric_id(spec, &id)) {
        struct group *gr = getgrnam(spec);
        if (gr == NULL)
            return cn_err(err, "No such group: '%s'", spec);
        id = gr->gr_gid;
    }
    if (gid != NULL)
        *gid = (gid_t)id;
    return 0;
}

int cn_owner_resolve(const char *user, const char *group, cn_owner_t *o, char *err)
{
    memset(o, 0, sizeof(*o));
    if (user != NULL) {
        if (cn_owner_lookup_user(user, &o->uid, err) < 0)
            return -1;
        o->set_uid = true;
    }
    if (group != NULL) {
        if (cn_owner_lookup_group(group, &o->gid, err) < 0)
            return -1;
        o->set_gid = true;
    }
    return 0;
}

static int supplementary_groups(const cn_owner_t *o, gid_t gid, bool with_initgroups, char *err)
{
    if (with_initgroups && o->set_uid) {
        struct passwd *pw = getpwuid(o->uid);
        if (pw != NULL) {
            if (initgroups(pw->pw_name, gid) < 0)
                return cn_err(err, "initgroups(%s, %ld) failed: %s", pw->pw_name, (long)gid,
                              strerror(errno));
            return 0;
        }
    }
    if (setgroups(1, &gid) < 0)
        return cn_err(err, "setgroups(%ld) failed: %s", (long)gid, strerror(errno));
    return 0;
}

int cn_owner_drop(const cn_owner_t *o, bool with_initgroups, char *err)
{
    uid_t uid = o->set_uid ? o->uid : getuid();
    gid_t gid = o->set_gid ? o->gid : getgid();
    if (!o->set_uid && !o->set_gid)
        return 0;
    /* only root may set supplementary groups, and only a change needs to */
    if (geteuid() == 0 && (uid != 0 || gid != getgid()) &&
        supplementary_groups(o, gid, with_initgroups, err) < 0)
        return -1;
    if ((gid != getgid() || gid != getegid()) && setgid(gid) < 0)
        return cn_err(err, "cannot switch to group %ld: %s", (long)gid, strerror(errno));
    if ((uid != getuid() || uid != geteuid()) && setuid(uid) < 0)
        return cn_err(err, "cannot switch to user %ld: %s", (long)uid, strerror(errno));
    return 0;
}
