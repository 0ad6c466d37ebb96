/*
 * Deadlines and per-phone ordering through the C exports. Run with a
 * configuration (TSP_RS_CONFIG) that makes the mock take one request at a time
 * (concurrent = false) and gives every driver call 100 ms:
 *   drivers = ["mock"]
 *   [settings.mock]  concurrent = false
 *   [deadlines]      request_ms = 100, call_ms = 100, misses = 3
 * Usage: deadlines /path/to/libtsp_host.so [PER_SENDER]
 *   PER_SENDER: requests each of the four senders puts through the one queue
 *   (10000). A driver in its own process answers each after a round trip,
 *   so 40000 queued behind each other would pass their 100 ms deadline.
 */
#include "tspi_loader.h"

struct sender { HDRVPHONE hd; DWORD first; int count; int out_of_order; };

static void *send_many(void *arg) {
    struct sender *s = arg;
    for (int i = 0; i < s->count; i++) {
        DWORD id = s->first + (DWORD)i;
        if (tspi_phoneSetData(id, s->hd, 0, &id, 4) != (LONG)id) s->out_of_order++;
    }
    return NULL;
}

/* Waits up to 3 s for request `id` to complete. */
static int wait_for(DWORD id) {
    for (int i = 0; i < 300 && completions[id] == 0; i++) usleep(10000);
    return completions[id] != 0;
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: deadlines LIBRARY [PER_SENDER]\n"); return 2; }
    int per_sender = argc > 2 ? atoi(argv[2]) : 10000;
    if (per_sender < 1 || per_sender > 10000) { fprintf(stderr, "PER_SENDER: 1 to 10000\n"); return 2; }
    load(argv[1]);
    start();
    HDRVPHONE hd = NULL;
    check(tspi_phoneOpen(BASE, (HTAPIPHONE)0x81, &hd, V31, on_event) == 0, "TSPI_phoneOpen");

    /* One queue per phone: many senders, the mock completing inline. */
    pthread_t threads[4]; struct sender senders[4];
    for (int t = 0; t < 4; t++) {
        senders[t] = (struct sender){hd, 10000 + (DWORD)t * 10000, per_sender, 0};
        pthread_create(&threads[t], NULL, send_many, &senders[t]);
    }
    int bad = 0;
    for (int t = 0; t < 4; t++) { pthread_join(threads[t], NULL); bad += senders[t].out_of_order; }
    /* Completed inline in process; an isolated driver completes them after. */
    int once = 1;
    for (int t = 0; t < 4; t++)
        for (DWORD id = senders[t].first; id < senders[t].first + (DWORD)per_sender; id++)
            if (!wait_for(id) || completions[id] != 1 || last_result[id] != 0) once = 0;
    char what[96];
    snprintf(what, sizeof what, "%d requests through one serial queue, each completed exactly once (no recursion)", 4 * per_sender);
    check(bad == 0 && once, what);
    check(overlaps == 0, "callbacks never overlapped");

    /* Close jumps the queue: the head is held, the rest wait; close completes all. */
    check(tspi_phoneDevSpecific(1, hd, "fault set_data never", 20) == 1, "mock command: SetData never completes");
    for (DWORD id = 60000; id < 60005; id++) tspi_phoneSetData(id, hd, 0, "q", 1);
    char byte = 0;
    check(tspi_phoneGetData(hd, 0, &byte, 1) == 0, "a synchronous call does not wait behind the queue");
    check(tspi_phoneClose(hd) == 0, "TSPI_phoneClose with a held head and a queue behind it");
    int all = 1;
    for (DWORD id = 60000; id < 60005; id++) if (!completed_once(id, H_PHONEERR_OPERATIONFAILED)) all = 0;
    check(all, "the held request and the queued ones completed before close returned");

    /* Deadlines. */
    check(tspi_phoneOpen(BASE + 1, (HTAPIPHONE)0x82, &hd, V31, on_event) == 0, "open the other phone");
    check(tspi_phoneSetStatusMessages(hd, 0x4 /* DISCONNECTED */, 0, 0) == 0, "SetStatusMessages(DISCONNECTED)");
    /* Both faults first: a request that completes in time (these commands,
     * when the driver completes after returning) ends a run of misses. */
    check(tspi_phoneDevSpecific(2, hd, "fault set_data delay 400", 24) == 2, "mock command: SetData takes 400 ms");
    check(tspi_phoneDevSpecific(4, hd, "fault get_data delay 400", 24) == 4, "mock command: GetData takes 400 ms");
    check(tspi_phoneSetData(3, hd, 0, "slow", 4) == 3, "SetData accepted");
    check(wait_for(3) && completed_once(3, H_PHONEERR_OPERATIONFAILED), "past its 100 ms deadline it completed with an error");
    usleep(500000);
    check(completions[3] == 1, "the driver's late completion did nothing");
    check(tspi_phoneGetData(hd, 0, &byte, 1) == H_PHONEERR_OPERATIONFAILED, "a synchronous call past its deadline: OPERATIONFAILED");
    int before = event_count;
    check(tspi_phoneGetData(hd, 0, &byte, 1) == H_PHONEERR_OPERATIONFAILED, "a third miss in a row");
    int away = wait_event(before, H_PHONE_STATE);
    check(away >= 0 && event_log[away].p1 == 0x4, "after 3 misses: H_PHONE_STATE(DISCONNECTED)");
    check(tspi_phoneSetData(5, hd, 0, "x", 1) == H_PHONEERR_INVALPHONESTATE, "and requests are refused with INVALPHONESTATE");

    check(tspi_phoneClose(hd) == 0, "close it");

    /* Opening is a driver call too. */
    check(tspi_phoneOpen(BASE, (HTAPIPHONE)0x83, &hd, V31, on_event) == 0, "open the first phone again");
    check(tspi_phoneDevSpecific(6, hd, "fault open delay 400", 20) == 6, "mock command: opening it takes 400 ms");
    check(tspi_phoneClose(hd) == 0, "close it");
    check(tspi_phoneOpen(BASE, (HTAPIPHONE)0x84, &hd, V31, on_event) == H_PHONEERR_OPERATIONFAILED, "an open past its deadline: OPERATIONFAILED");

    check(tspi_providerShutdown(V31, 7) == 0, "shut down");
    return finish();
}
