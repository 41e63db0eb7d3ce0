#ifndef POLLTALLY_EVENT_POLL_H
#define POLLTALLY_EVENT_POLL_H

#include <stdint.h>

/// Readiness bits, as epoll reports them.
enum {
    POLLTALLY_EV_IN = 0x001,
    POLLTALLY_EV_OUT = 0x004,
    POLLTALLY_EV_ERR = 0x008,
    POLLTALLY_EV_HUP = 0x010,
};

/// One ready registration: the token it was registered with and what is ready. Unlike
/// `struct epoll_event` (packed on x86-64), a plain struct Swift imports without surprises.
typedef struct {
    uint64_t token;
    uint32_t events;
} polltally_ready;

/// `epoll_create1(EPOLL_CLOEXEC)`; -1 with errno on failure.
int polltally_epoll_create(void);
/// Level-triggered interest in `events` (`POLLTALLY_EV_IN` / `_OUT`) for `fd`, under `token`.
int polltally_epoll_add(int epfd, int fd, uint32_t events, uint64_t token);
int polltally_epoll_modify(int epfd, int fd, uint32_t events, uint64_t token);
int polltally_epoll_remove(int epfd, int fd);
/// Waits up to `timeout_ms` (-1: for ever); fills `out` with at most `max` ready registrations.
int polltally_epoll_wait(int epfd, polltally_ready *out, int max, int timeout_ms);

#endif
