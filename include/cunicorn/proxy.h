/* proxy.h - trusting a proxy in front of us: which peers may tell us the
 * original scheme (forwarded_allow_ips), and which headers say it
 * (secure_scheme_headers).
 * Must not: include Python.h. */
#ifndef CUNICORN_PROXY_H
#define CUNICORN_PROXY_H

#include "cunicorn/http.h"

typedef struct cn_proxy_net {
    int family;        /* AF_INET or AF_INET6 */
    uint8_t addr[16];
    int prefix;        /* bits that must match */
} cn_proxy_net_t;

/* forwarded_allow_ips: "*", or a comma-separated list of IPs and CIDRs. */
typedef struct cn_proxy_allow {
    bool any;
    cn_proxy_net_t *nets; /* owned */
    size_t n;
} cn_proxy_allow_t;

/** Parse a list ("127.0.0.1, 10.0.0.0/8, ::1" or "*"). 0, or -1 + err. */
int cn_proxy_allow_parse(cn_proxy_allow_t *a, const char *list, char *err) CN_NODISCARD;
void cn_proxy_allow_free(cn_proxy_allow_t *a);
/** Whether a peer (numeric host; "" for a unix socket peer, which is local
 * and trusted as in Gunicorn) is in the list. */
bool cn_proxy_allow_match(const cn_proxy_allow_t *a, const char *peer_host);

/* secure_scheme_headers: "NAME=VALUE,..." e.g. Gunicorn's default
 * "X-FORWARDED-PROTOCOL=ssl,X-FORWARDED-PROTO=https,X-FORWARDED-SSL=on". */
typedef struct cn_scheme_header {
    char *name;  /* owned */
    char *value; /* owned: the value that means https */
} cn_scheme_header_t;

typedef struct cn_scheme_headers {
    cn_scheme_header_t *items; /* owned */
    size_t n;
} cn_scheme_headers_t;

int cn_scheme_headers_parse(cn_scheme_headers_t *sh, const char *spec, char *err) CN_NODISCARD;
void cn_scheme_headers_free(cn_scheme_headers_t *sh);

/**
 * The scheme a trusted proxy reports for req (header values compared
 * case-insensitively). Sets *https; returns 0, or -1 when two of the
 * headers disagree (the request is rejected with 400, as Gunicorn's
 * InvalidSchemeHeaders).
 */
int cn_scheme_from_request(const cn_scheme_headers_t *sh, const cn_http_request_t *req,
                           const char *base, bool *https) CN_NODISCARD;

#endif
