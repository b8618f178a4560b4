/*
 * nfq-delay: hold every packet of one NFQUEUE queue for a fixed delay, then
 * accept it. This kernel has no netem, so scripts/make-scenarios.sh gives a
 * namespace's link a long, real delay with this program and two iptables
 * rules (OUTPUT -o IF and INPUT -i IF -j NFQUEUE --queue-num N): both
 * directions of the link wait DELAY_MS.
 *
 *   nfq-delay QUEUE_NUM DELAY_MS
 *
 * Every packet waits the same delay, so a FIFO in arrival order is also in
 * order of release: no sorting, no reordering. The queue is bounded; when it
 * is full the packet is accepted at once and counted (the lab sends a few
 * hundred packets, far below the bound).
 *
 * Build: gcc -O2 -Wall -o nfq-delay nfq-delay.c -lnetfilter_queue
 * (Debian package libnetfilter-queue-dev).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

/* Held packets at most; a power of two so the ring index is a mask. */
#define RING 8192u

struct held {
    uint32_t id;
    uint64_t due_ns;
};

static struct held ring[RING];
static uint32_t head, tail; /* head: next to release; tail: next free */
static uint64_t delay_ns;
static unsigned long overflow;
static volatile sig_atomic_t stop;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Called by nfq_handle_packet for each queued packet: remember its id and
 * when it may go. */
static int on_packet(struct nfq_q_handle *qh, struct nfgenmsg *msg,
                     struct nfq_data *nfa, void *data)
{
    (void)msg;
    (void)data;
    struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(nfa);
    if (!ph)
        return 0;
    uint32_t id = ntohl(ph->packet_id);
    if (tail - head >= RING) {
        overflow++;
        return nfq_set_verdict(qh, id, NF_ACCEPT, 0, NULL);
    }
    ring[tail & (RING - 1)] = (struct held){id, now_ns() + delay_ns};
    tail++;
    return 0;
}

/* Accept every held packet whose time has come. */
static void release_due(struct nfq_q_handle *qh)
{
    uint64_t now = now_ns();
    while (head != tail && ring[head & (RING - 1)].due_ns <= now) {
        nfq_set_verdict(qh, ring[head & (RING - 1)].id, NF_ACCEPT, 0, NULL);
        head++;
    }
}

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s QUEUE_NUM DELAY_MS\n", argv[0]);
        return 2;
    }
    int qnum = atoi(argv[1]);
    double delay_ms = atof(argv[2]);
    if (qnum < 0 || qnum > 65535 || delay_ms < 0 || delay_ms > 10000) {
        fprintf(stderr, "nfq-delay: queue 0-65535, delay 0-10000 ms\n");
        return 2;
    }
    delay_ns = (uint64_t)(delay_ms * 1e6);

    struct nfq_handle *h = nfq_open();
    if (!h) {
        perror("nfq_open");
        return 1;
    }
    nfq_unbind_pf(h, AF_INET);
    if (nfq_bind_pf(h, AF_INET) < 0) {
        perror("nfq_bind_pf");
        return 1;
    }
    struct nfq_q_handle *qh = nfq_create_queue(h, (uint16_t)qnum, on_packet, NULL);
    if (!qh) {
        perror("nfq_create_queue");
        return 1;
    }
    /* The verdict needs only the packet id: copy no payload. */
    if (nfq_set_mode(qh, NFQNL_COPY_META, 0) < 0) {
        perror("nfq_set_mode");
        return 1;
    }
    nfq_set_queue_maxlen(qh, RING);

    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    fprintf(stderr, "nfq-delay: queue %d, %.3f ms\n", qnum, delay_ms);

    int fd = nfq_fd(h);
    char buf[65536];
    while (!stop) {
        struct timespec wait = {1, 0};
        if (head != tail) {
            uint64_t due = ring[head & (RING - 1)].due_ns, now = now_ns();
            uint64_t left = due > now ? due - now : 0;
            wait.tv_sec = (time_t)(left / 1000000000u);
            wait.tv_nsec = (long)(left % 1000000000u);
        }
        struct pollfd p = {fd, POLLIN, 0};
        int r = ppoll(&p, 1, &wait, NULL);
        if (r < 0 && errno != EINTR) {
            perror("ppoll");
            break;
        }
        if (r > 0 && (p.revents & POLLIN)) {
            ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
            if (n > 0)
                nfq_handle_packet(h, buf, (int)n);
        }
        release_due(qh);
    }
    if (overflow)
        fprintf(stderr, "nfq-delay: %lu packets passed undelayed (queue full)\n", overflow);
    nfq_destroy_queue(qh);
    nfq_close(h);
    return 0;
}
