/* proxy_protocol.h - the PROXY protocol preamble (HAProxy's proxy-protocol.txt)
 * that a load balancer sends before the first request of a connection, to
 * say who the client is: version 1 ("PROXY TCP4 src dst sport dport\r\n")
 * and version 2 (binary, 16-byte header + addresses + TLVs).
 *
 * Owns: recognising and parsing a preamble at the start of a buffer.
 * Must not: include Python.h, do I/O or decide trust (conn.c checks the peer
 * against forwarded_allow_ips), or read past the preamble's own length. */
#ifndef CUNICORN_PROXY_PROTOCOL_H
#define CUNICORN_PROXY_PROTOCOL_H

#include "cunicorn/common.h"

#include <netinet/in.h>

/* v1 lines are at most 107 bytes with their CRLF (spec 2.1). */
#define CN_PROXY_PROTOCOL_V1_MAX 107
/* v2: the 12-byte signature, version/command, family/transport, length. */
#define CN_PROXY_PROTOCOL_V2_HEAD 16

enum cn_proxy_protocol_result {
    CN_PROXY_PROTOCOL_NONE,  /* the buffer does not start with a preamble */
    CN_PROXY_PROTOCOL_DONE,  /* parsed: *consumed bytes, info filled */
    CN_PROXY_PROTOCOL_AGAIN, /* a preamble (or a prefix of one) is incomplete */
    CN_PROXY_PROTOCOL_ERROR, /* malformed; *reason says why */
};

typedef struct cn_proxy_protocol_info {
    uint8_t version; /* 1 or 2 once the signature is recognised, else 0
                        (set with AGAIN and ERROR too) */
    bool local;      /* no client address to use (v1 UNKNOWN, v2 LOCAL or an
                        UNSPEC/UNIX family): keep the socket's addresses */
    int family;      /* AF_INET or AF_INET6 when !local */
    char src_host[INET6_ADDRSTRLEN]; /* the client: REMOTE_ADDR */
    int src_port;                    /* REMOTE_PORT */
    char dst_host[INET6_ADDRSTRLEN]; /* the address the client connected to */
    int dst_port;
} cn_proxy_protocol_info_t;

/* proxy_protocol: which preambles a connection may start with. */
enum cn_proxy_protocol_mode {
    CN_PROXY_PROTOCOL_OFF,
    CN_PROXY_PROTOCOL_V1,   /* text only */
    CN_PROXY_PROTOCOL_V2,   /* binary only */
    CN_PROXY_PROTOCOL_AUTO, /* either, told apart by the signature */
};

/** The mode a proxy_protocol value names: off, v1, v2, auto, or Gunicorn
 * 20-23's boolean spellings (true = auto, as Gunicorn 24's bare flag);
 * -1 if none. */
int cn_proxy_protocol_mode_parse(const char *value);

/**
 * Parse a preamble at the start of buf (len bytes received so far; call
 * again with more). NONE as soon as the bytes cannot start one (they are the
 * HTTP request), AGAIN while they still might or while a recognised
 * preamble is incomplete, DONE with *consumed = its length (the request
 * follows), ERROR with *reason (static) for a malformed one. v1 addresses
 * must match TCP4/TCP6 (inet_pton) and ports be 0..65535; v2 needs version
 * 2, command LOCAL or PROXY, and an address block as long as its family
 * says; TLVs are skipped.
 */
enum cn_proxy_protocol_result cn_proxy_protocol_parse(const char *buf, size_t len,
                                                      cn_proxy_protocol_info_t *info,
                                                      size_t *consumed, const char **reason);

#endif
