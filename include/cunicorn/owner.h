/* owner.h - the user and group the workers run as (user, group, initgroups).
 *
 * Owns: turning Gunicorn's user/group values (a name or a number) into ids,
 * and dropping a process to them.
 * Must not: include Python.h, log, or exit; callers report err. */
#ifndef CUNICORN_OWNER_H
#define CUNICORN_OWNER_H

#include "cunicorn/common.h"

#include <sys/types.h>

typedef struct cn_owner {
    bool set_uid, set_gid; /* false: keep the process's own */
    uid_t uid;
    gid_t gid;
} cn_owner_t;

/** A user name or a decimal uid; "No such user: 'x'" in err and -1 if
 * unknown. uid may be NULL to only check. */
int cn_owner_lookup_user(const char *spec, uid_t *uid, char *err);
/** A group name or a decimal gid, as above ("No such group: 'x'"). */
int cn_owner_lookup_group(const char *spec, gid_t *gid, char *err);
/** Both at once; NULL user/group leave that id unset. */
int cn_owner_resolve(const char *user, const char *group, cn_owner_t *o, char *err);

/**
 * Make the calling process o's: supplementary groups first (the user's with
 * with_initgroups, otherwise only the new group, so a worker never keeps
 * root's), then the gid, then the uid. A no-op for ids the process already
 * has. -1 with err naming what failed.
 */
int cn_owner_drop(const cn_owner_t *o, bool with_initgroups, char *err);

#endif
