/* timeouts.c - the worker's time limits from the settings (see timeouts.h). */
#include "cunicorn/timeouts.h"

cn_timeouts_t cn_timeouts_from_settings(int timeout, int keepalive, int graceful_timeout)
{
    cn_timeouts_t t;
    t.io = timeout > 0 ? (double)timeout : CN_TIMEOUTS_IO_DEFAULT;
    t.keepalive = keepalive > 0;
    t.idle = t.keepalive ? (double)keepalive : t.io;
    t.heartbeat = CN_TIMEOUTS_BEAT_MAX;
    if (timeout > 0 && timeout / 4.0 < t.heartbeat)
        t.heartbeat = timeout / 4.0;
    t.graceful = graceful_timeout > 0 ? (double)graceful_timeout : 0;
    t.loop_write = CN_TIMEOUTS_LOOP_WRITE;
    t.stop_idle = t.idle < CN_TIMEOUTS_STOP_IDLE ? t.idle : CN_TIMEOUTS_STOP_IDLE;
    return t;
}
