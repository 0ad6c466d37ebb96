/*
 * Plays TAPISRV against the TSP library: loads it with dlopen, resolves the
 * TSPI_* exports and drives them in TAPISRV's order. Prints one line per check
 * and ends with "N passed, M failed"; exits non-zero on any failure.
 *
 * Usage: harness /path/to/libtsp_host.so            (the full run)
 *        harness /path/to/libtsp_host.so open-first  (second process: expects ALLOCATED)
 *        harness /path/to/renamed.so ui-dll          (only TSPI_providerUIIdentify)
 *
 * UTF-16 strings are uint16_t, not wchar_t (4 bytes on Linux). Prototypes follow
 * the Windows SDK tspi.h for TAPI_CURRENT_VERSION >= 0x00020000.
 */
#include "tspi_loader.h"

TSPI_FN(tspi_providerUIIdentify, TSPI_providerUIIdentify, LONG, (uint16_t *))

/* TAPI loads the UI DLL from the path TSPI_providerUIIdentify writes: it must be
 * the file this library was loaded from, whatever that file is called. */
static int names_this_library(const uint16_t *path, library_t lib) {
#ifdef _WIN32
    return GetModuleHandleW((const wchar_t *)path) == lib;
#else
    char narrow[260];
    size_t i = 0;
    for (; path[i] != 0 && i + 1 < sizeof narrow; i++) {
        if (path[i] > 0x7F) return 0; /* the test folders are ASCII */
        narrow[i] = (char)path[i];
    }
    narrow[i] = 0;
    /* NOLOAD finds a loaded library by its file, not its name, and loads nothing. */
    void *same = dlopen(narrow, RTLD_NOW | RTLD_NOLOAD);
    if (same) dlclose(same);
    return same == lib;
#endif
}

static void check_ui_dll(const char *path) {
    library_t lib = open_library(path);
    RESOLVE(tspi_providerUIIdentify, "TSPI_providerUIIdentify");
    uint16_t ui_dll[260] = {0};
    check(tspi_providerUIIdentify(ui_dll) == 0 && names_this_library(ui_dll, lib),
          "TSPI_providerUIIdentify names the library's own file");
}

static HDRVPHONE reentrant_phone;
static atomic_long reentrant_result;

/* TAPI calling back into the provider from inside PHONEEVENT. */
static void call_from_event(DWORD msg) {
    if (msg == H_PHONE_BUTTON && reentrant_phone) {
        HDRVPHONE hd = reentrant_phone;
        reentrant_phone = NULL;
        atomic_store(&reentrant_result, tspi_phoneSetData(150000, hd, 3, "inside", 6));
    }
}

struct sender { HDRVPHONE hd; DWORD first; int count; };

static void *send_many(void *arg) {
    struct sender *s = arg;
    for (int i = 0; i < s->count; i++) {
        DWORD id = s->first + (DWORD)i;
        if (tspi_phoneSetData(id, s->hd, id % 4, &id, 4) != (LONG)id) atomic_fetch_add(&overlaps, 1000);
    }
    return NULL;
}

static int second_process(void) {
    DWORD lines, phones, v;
    tspi_lineNegotiateTSPIVersion(H_INITIALIZE_NEGOTIATION, 0x00020000, V31, &v);
    tspi_providerEnumDevices(9, &lines, &phones, NULL, NULL, NULL);
    tspi_providerInit(V31, 9, 0, 0, 0, phones, on_completion, NULL);
    HDRVPHONE hd = NULL;
    LONG r = tspi_phoneOpen(0, (HTAPIPHONE)1, &hd, V31, on_event);
    tspi_providerShutdown(V31, 9);
    return r == H_PHONEERR_ALLOCATED ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: harness LIBRARY [open-first | ui-dll]\n"); return 2; }
    load(argv[1]);
    if (argc > 2 && strcmp(argv[2], "open-first") == 0) return second_process();
    if (argc > 2 && strcmp(argv[2], "ui-dll") == 0) {
        check_ui_dll(argv[1]);
        return finish();
    }

    DWORD v = 0;
    check(tspi_lineNegotiateTSPIVersion(H_INITIALIZE_NEGOTIATION, 0x00010003, 0x00010004, &v) == H_LINEERR_INCOMPATIBLEAPIVERSION,
          "TSPI_lineNegotiateTSPIVersion below 2.0 is INCOMPATIBLEAPIVERSION");
    check(tspi_lineNegotiateTSPIVersion(H_INITIALIZE_NEGOTIATION, 0x00020000, V31, NULL) == H_LINEERR_INVALPOINTER,
          "TSPI_lineNegotiateTSPIVersion with a null pointer is INVALPOINTER");
    start();
    check_ui_dll(argv[1]);

    check(tspi_phoneNegotiateTSPIVersion(BASE, 0x00010004, 0x00020002, &v) == 0 && v == 0x00020002, "phone negotiation in range");
    check(tspi_phoneNegotiateTSPIVersion(BASE, 0x00010003, 0x00010004, &v) == H_PHONEERR_INCOMPATIBLEAPIVERSION, "phone negotiation out of range");
    check(tspi_phoneNegotiateTSPIVersion(BASE + 2, 0x00020000, V31, &v) == H_PHONEERR_BADDEVICEID, "phone negotiation of an unknown id");

    uint8_t caps[4096];
    memset(caps, 0xEE, sizeof caps);
    DWORD total = 16; memcpy(caps, &total, 4);
    check(tspi_phoneGetDevCaps(BASE, V31, 0, (void *)caps) == H_PHONEERR_STRUCTURETOOSMALL, "GetDevCaps below the fixed part");
    total = 196; memcpy(caps, &total, 4);
    check(tspi_phoneGetDevCaps(BASE, V31, 0, (void *)caps) == 0 && u32_at(caps, 8) == 196 && u32_at(caps, 4) > 196 && u32_at(caps, 0) == 196,
          "GetDevCaps with the fixed part only: used 196, needed more, dwTotalSize untouched");
    total = sizeof caps; memcpy(caps, &total, 4);
    check(tspi_phoneGetDevCaps(BASE, V31, 0, (void *)caps) == 0 && u32_at(caps, 4) == u32_at(caps, 8), "GetDevCaps with room for all");
    DWORD name_size = u32_at(caps, 0x20), name_off = u32_at(caps, 0x24);
    const uint16_t expected[] = {'M','o','c','k',' ','P','h','o','n','e',' ','0',0};
    check(name_size == sizeof expected && memcmp(caps + name_off, expected, sizeof expected) == 0, "the phone's name is UTF-16 \"Mock Phone 0\"");
    check(tspi_phoneGetDevCaps(BASE, V31, 0, NULL) == H_PHONEERR_INVALPOINTER, "GetDevCaps with a null pointer");

    HDRVPHONE hd = NULL, hd2 = NULL;
    check(tspi_phoneOpen(BASE, (HTAPIPHONE)0x51, &hd, V31, on_event) == 0 && hd != NULL, "TSPI_phoneOpen");
    check(tspi_phoneOpen(BASE, (HTAPIPHONE)0x52, &hd2, V31, on_event) == H_PHONEERR_ALLOCATED, "a second open here is ALLOCATED");
    check(tspi_phoneOpen(BASE, (HTAPIPHONE)0x52, NULL, V31, on_event) == H_PHONEERR_INVALPOINTER, "open with a null handle pointer");
#ifdef _WIN32
    intptr_t child = _spawnl(_P_WAIT, argv[0], argv[0], argv[1], "open-first", NULL);
#else
    char command[512];
    snprintf(command, sizeof command, "'%s' '%s' open-first", argv[0], argv[1]);
    int child = system(command);
#endif
    check(child == 0, "an open from a second process is ALLOCATED");

    check(tspi_phoneSetData(1, hd, 1, "hello", 6) == 1, "SetData returns its request id");
    check(completed_once(1, 0), "SetData completed exactly once with success");
    char back[6] = {0};
    check(tspi_phoneGetData(hd, 1, back, 6) == 0 && memcmp(back, "hello", 6) == 0, "GetData reads it back");
    check(tspi_phoneSetData(2, hd, 9, "x", 1) == H_PHONEERR_INVALDATAID && completions[2] == 0, "a bad data id: negative, no completion");
    char big[300] = {0};
    check(tspi_phoneSetData(3, hd, 0, big, 300) == H_PHONEERR_OPERATIONFAILED && completions[3] == 0, "oversize: negative, no completion");
    check(tspi_phoneSetData(4, hd, 0, NULL, 5) == H_PHONEERR_INVALPOINTER, "SetData with a null buffer");
    uint8_t status[512]; total = sizeof status; memcpy(status, &total, 4);
    check(tspi_phoneGetStatus(hd, (void *)status) == 0 && (u32_at(status, 0x0C) & 1), "GetStatus says connected");

    /* Tens of thousands of concurrent requests from several threads. */
    pthread_t threads[4]; struct sender senders[4];
    atomic_store(&total_completions, 0);
    for (int t = 0; t < 4; t++) {
        senders[t] = (struct sender){hd, 10000 + (DWORD)t * 10000, 10000};
        pthread_create(&threads[t], NULL, send_many, &senders[t]);
    }
    for (int t = 0; t < 4; t++) pthread_join(threads[t], NULL);
    int once = 1;
    for (DWORD id = 10000; id < 50000; id++) if (!wait_completed(id) || completions[id] != 1) once = 0;
    check(once && total_completions == 40000, "40000 concurrent SetData each completed exactly once");
    check(overlaps == 0, "callbacks never overlapped");

    /* A TSPI call from inside PHONEEVENT. */
    check(tspi_phoneSetStatusMessages(hd, H_PHONESTATE_REINIT, H_PHONEBUTTONMODE_KEYPAD, 3) == 0, "SetStatusMessages enables keypad buttons");
    reentrant_phone = hd;
    event_hook = call_from_event;
    check(tspi_phoneDevSpecific(5, hd, "press 4", 7) == 5, "mock command: press a key");
    check(events_seen >= 2, "H_PHONE_BUTTON down and up arrived");
    check(reentrant_result == 150000 && wait_completed(150000) && completions[150000] == 1, "SetData from inside PHONEEVENT completed once");

    /* Faults injected through DevSpecific. */
    check(driver_refused(tspi_phoneDevSpecific(6, hd, "panic", 5), 6, H_PHONEERR_OPERATIONFAILED), "a panic in the driver is OPERATIONFAILED");
    check(tspi_phoneDevSpecific(7, hd, "fault set_data never", 20) == 7, "mock command: SetData never completes");
    for (DWORD id = 60000; id < 60010; id++) tspi_phoneSetData(id, hd, 0, "held", 4);
    int none_yet = 1;
    for (DWORD id = 60000; id < 60010; id++) if (completions[id] != 0) none_yet = 0;
    check(none_yet, "requests held by the driver are outstanding");
    check(tspi_phoneClose(hd) == 0, "TSPI_phoneClose with requests outstanding");
    int all_done = 1;
    for (DWORD id = 60000; id < 60010; id++) if (completions[id] != 1 || last_result[id] != H_PHONEERR_OPERATIONFAILED) all_done = 0;
    check(all_done, "every outstanding request completed before close returned");
    int after = total_completions;
    usleep(50000);
    check(total_completions == after, "nothing delivered after close");

    check(tspi_phoneSetData(8, hd, 0, "x", 1) == H_PHONEERR_INVALPHONEHANDLE, "a stale handle is INVALPHONEHANDLE");
    check(tspi_phoneSetData(9, (HDRVPHONE)0xdeadbeef, 0, "x", 1) == H_PHONEERR_INVALPHONEHANDLE, "a made-up handle is INVALPHONEHANDLE");
    check(tspi_phoneClose(hd) == H_PHONEERR_INVALPHONEHANDLE, "closing twice");

    check(tspi_providerShutdown(V31, 7) == 0, "TSPI_providerShutdown");
    start();
    check(tspi_phoneOpen(BASE + 1, (HTAPIPHONE)0x53, &hd, V31, on_event) == 0, "open after shutdown and a second init");
    check(tspi_phoneSetData(100, hd, 0, "again", 5) == 100 && wait_completed(100) && completions[100] == 1, "SetData after re-init");
    check(tspi_phoneClose(hd) == 0 && tspi_providerShutdown(V31, 7) == 0, "close and shut down again");

    return finish();
}
