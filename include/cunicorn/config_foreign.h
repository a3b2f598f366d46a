/* config_foreign.h - Gunicorn settings that cunicorn does not honour.
 *
 * Owns: the table of every Gunicorn setting outside cunicorn's own table
 * (config.h), each with the state cunicorn gives it and why: refused (the
 * server will not start, so a config that relies on it never runs with it
 * silently dropped) or accepted and ignored (it has no effect a user can
 * see in cunicorn; main.c names the ones given in one warning line).
 * Must not: include Python.h, print, or exit. */
#ifndef CUNICORN_CONFIG_FOREIGN_H
#define CUNICORN_CONFIG_FOREIGN_H

#include "cunicorn/common.h"

enum cn_foreign_state { CN_FOREIGN_REFUSED, CN_FOREIGN_IGNORED };

typedef struct cn_foreign_setting {
    const char *name;             /* Gunicorn's name: "certfile" */
    const char *flags[3];         /* its command-line spellings, NULL-terminated */
    bool takes_value;             /* the flag consumes an argument */
    const char *gunicorn_default; /* Python repr of Gunicorn's default: None, False, 'h1' */
    enum cn_foreign_state state;
    const char *reason; /* why, one clause: "TLS is not implemented: ..." */
} cn_foreign_setting_t;

/** The table, in Gunicorn's order. */
const cn_foreign_setting_t *cn_foreign_settings(size_t *n);
/** Row by setting name; NULL if the name is not a Gunicorn setting we lack. */
const cn_foreign_setting_t *cn_foreign_find(const char *name);
/** Row by an exact command-line flag ("--certfile", "-D"); NULL if none. */
const cn_foreign_setting_t *cn_foreign_find_flag(const char *flag, size_t len);
/** err = "setting certfile (--certfile) is not supported by cunicorn: ...";
 * returns -1. */
int cn_foreign_refusal(const cn_foreign_setting_t *f, char *err);

#endif
