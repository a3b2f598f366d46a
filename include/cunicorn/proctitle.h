/* proctitle.h - the process title that ps -o args and /proc/PID/cmdline
 * show ("cunicorn: master [main:app]"), as Gunicorn sets it through
 * setproctitle. Must not: include Python.h. */
#ifndef CUNICORN_PROCTITLE_H
#define CUNICORN_PROCTITLE_H

/** First thing in main(): argv[] and environ are moved to the heap (the
 * arrays keep their addresses, the strings are copies) so that the memory
 * the kernel reports as the command line can be overwritten. */
void cn_proctitle_init(int argc, char **argv);

/** Show title as the command line (cut to the room argv and environ had)
 * and as the thread name (the kernel keeps 15 bytes of it). */
void cn_proctitle_set(const char *title);

#endif
