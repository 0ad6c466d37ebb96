/*
 * A driver that crashes or hangs in a process of its own, through the C
 * exports: the program calling them lives on, every request completes exactly
 * once, the driver's phones go DISCONNECTED and come back CONNECTED, and a
 * SetData after the restart works. Run with a configuration that isolates the
 * mock, e.g.
 *   drivers = ["mock"]
 *   isolate = ["mock"]
 *   [settings.mock]  concurrent = true      (or false: one request at a time)
 *   [deadlines]      call_ms = 400          (the heartbeat)
 *   [isolation]      hang_ms = 600, backoff_ms = 20
 * Usage: isolation /path/to/libtsp_host.so crash|hang
 */
#include "tspi_loader.h"

/* Waits up to 5 s for PHONE_STATE(`state`) on `ht` after event `from`;
 * its index, or -1. */
static int wait_state(int from, HTAPIPHONE ht, DWORD state) {
    for (int n = 0; n < 5000; n++) {
        for (int i = from; i < event_count && i < MAX_EVENTS; i++)
            if (event_log[i].ht == ht && event_log[i].msg == H_PHONE_STATE && event_log[i].p1 == state) return i;
        usleep(1000);
    }
    return -1;
}

int main(int argc, char **argv) {
    if (argc < 3 || (strcmp(argv[2], "crash") != 0 && strcmp(argv[2], "hang") != 0)) {
        fprintf(stderr, "usage: isolation LIBRARY crash|hang\n");
        return 2;
    }
    const char *what = argv[2];
    load(argv[1]);
    start();
    HDRVPHONE h0 = NULL, h1 = NULL;
    HTAPIPHONE t0 = (HTAPIPHONE)0x91, t1 = (HTAPIPHONE)0x92;
    DWORD presence = H_PHONESTATE_CONNECTED | H_PHONESTATE_DISCONNECTED;
    check(tspi_phoneOpen(BASE, t0, &h0, V31, on_event) == 0 && tspi_phoneOpen(BASE + 1, t1, &h1, V31, on_event) == 0,
          "both phones of the isolated mock open");
    check(tspi_phoneSetStatusMessages(h0, presence, 0, 0) == 0 && tspi_phoneSetStatusMessages(h1, presence, 0, 0) == 0,
          "SetStatusMessages(CONNECTED | DISCONNECTED) on both");

    /* Set by command, not in the settings: the restarted driver has it not. */
    check(tspi_phoneDevSpecific(1, h0, "fault set_data never", 20) == 1 && completed_once(1, 0), "mock command: SetData never completes");
    check(tspi_phoneSetData(2, h0, 0, "lost", 4) == 2 && tspi_phoneSetData(3, h0, 0, "behind", 6) == 3, "two SetData accepted");
    usleep(20000);
    check(completions[2] == 0 && completions[3] == 0, "both outstanding");

    int mark = event_count;
    char line[64];
    snprintf(line, sizeof line, "mock command on the other phone: %s", what);
    check(tspi_phoneDevSpecific(4, h1, (void *)what, (DWORD)strlen(what)) == 4, line);
    check(wait_completed(4) && completed_once(4, H_PHONEERR_OPERATIONFAILED), "that request completed once, with OPERATIONFAILED");
    check(wait_completed(2) && completed_once(2, H_PHONEERR_OPERATIONFAILED), "the outstanding SetData completed once, with OPERATIONFAILED");
    /* Concurrent: it was in the driver and fails. One at a time: it waited in
     * the host's queue and fails too (the phone was away) or reaches the new
     * driver; once either way. */
    check(wait_completed(3) && completions[3] == 1, "the SetData behind it completed once");
    for (int p = 0; p < 2; p++) {
        HTAPIPHONE ht = p == 0 ? t0 : t1;
        int away = wait_state(mark, ht, H_PHONESTATE_DISCONNECTED);
        snprintf(line, sizeof line, "phone %d: H_PHONE_STATE(DISCONNECTED)", p);
        check(away >= 0, line);
        snprintf(line, sizeof line, "phone %d: then H_PHONE_STATE(CONNECTED)", p);
        check(away >= 0 && wait_state(away + 1, ht, H_PHONESTATE_CONNECTED) > away, line);
    }

    check(tspi_phoneSetData(5, h0, 1, "after", 5) == 5 && completed_once(5, 0), "a SetData after the restart");
    char back[5] = {0};
    check(tspi_phoneGetData(h0, 1, back, 5) == 0 && memcmp(back, "after", 5) == 0, "GetData reads it back");
    check(tspi_phoneClose(h0) == 0 && tspi_phoneClose(h1) == 0, "both phones close");
    usleep(100000);
    int once = 1;
    for (DWORD id = 1; id <= 5; id++) if (completions[id] != 1) once = 0;
    check(once, "every request completed exactly once");
    check(overlaps == 0, "callbacks never overlapped");
    check(tspi_providerShutdown(V31, 7) == 0, "shut down");
    return finish();
}
