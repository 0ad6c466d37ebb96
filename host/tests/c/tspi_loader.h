/*
 * What the C programs that play TAPISRV share: the TSPI prototypes of the Windows
 * SDK's tspi.h (TAPI_CURRENT_VERSION >= 0x00020000) as function pointers, the
 * constants they check, the loader, TAPI's two callbacks and the check counter.
 * UTF-16 strings are uint16_t, not wchar_t (4 bytes on Linux).
 */
#ifndef TSPI_LOADER_H
#define TSPI_LOADER_H

#define _DEFAULT_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef _WIN32
/* The platform's own declarations: every function pointer below is typed from
 * mingw-w64's tspi.h (typeof(&TSPI_...)), so the prototypes are Windows', not ours. */
#include <windows.h>
#include <process.h>
#include <tapi.h>
#include <tspi.h>
#define TSPI_FN(var, name, ret, args) static typeof(&name) var;
#else
#include <dlfcn.h>
typedef int32_t LONG;
typedef uint32_t DWORD;
typedef uintptr_t DWORD_PTR;
typedef void *HDRVPHONE, *HTAPIPHONE, *HPROVIDER, *HICON, *HANDLE;
typedef void (*ASYNC_COMPLETION)(DWORD, LONG);
typedef void (*PHONEEVENT)(HTAPIPHONE, DWORD, DWORD_PTR, DWORD_PTR, DWORD_PTR);
typedef void (*LINEEVENT)(void *, void *, DWORD, DWORD_PTR, DWORD_PTR, DWORD_PTR);
#define TSPI_FN(var, name, ret, args) static ret (*var) args;
#endif

#define H_INITIALIZE_NEGOTIATION 0xFFFFFFFFu
#define H_LINEERR_INCOMPATIBLEAPIVERSION ((LONG)0x8000000C)
#define H_LINEERR_INVALPOINTER ((LONG)0x80000035)
#define H_PHONEERR_ALLOCATED ((LONG)0x90000001)
#define H_PHONEERR_BADDEVICEID ((LONG)0x90000002)
#define H_PHONEERR_INCOMPATIBLEAPIVERSION ((LONG)0x90000003)
#define H_PHONEERR_INCOMPATIBLEEXTVERSION ((LONG)0x90000004)
#define H_PHONEERR_INVALBUTTONLAMPID ((LONG)0x90000009)
#define H_PHONEERR_INVALDATAID ((LONG)0x9000000C)
#define H_PHONEERR_INVALDEVICECLASS ((LONG)0x9000000D)
#define H_PHONEERR_INVALHOOKSWITCHDEV ((LONG)0x9000000F)
#define H_PHONEERR_INVALHOOKSWITCHMODE ((LONG)0x90000010)
#define H_PHONEERR_INVALLAMPMODE ((LONG)0x90000011)
#define H_PHONEERR_INVALPARAM ((LONG)0x90000012)
#define H_PHONEERR_INVALPHONEHANDLE ((LONG)0x90000013)
#define H_PHONEERR_INVALPOINTER ((LONG)0x90000015)
#define H_PHONEERR_INVALRINGMODE ((LONG)0x90000017)
#define H_PHONEERR_OPERATIONFAILED ((LONG)0x9000001C)
#define H_PHONEERR_STRUCTURETOOSMALL ((LONG)0x90000021)
#define H_PHONE_BUTTON 0x0E
#define H_PHONE_CLOSE 0x0F
#define H_PHONE_STATE 0x12
#define H_PHONE_CREATE 0x14
#define H_PHONE_REMOVE 0x1A
#define H_PHONEERR_INVALPHONESTATE ((LONG)0x90000014)
#define H_PHONESTATE_CONNECTED 0x00000002u
#define H_PHONESTATE_DISCONNECTED 0x00000004u
#define H_PHONESTATE_LAMP 0x00000040u
#define H_PHONESTATE_DISPLAY 0x00000020u
#define H_PHONESTATE_REINIT 0x00200000u
#define H_PHONEBUTTONMODE_KEYPAD 0x08u
#define H_PHONEBUTTONMODE_FEATURE 0x04u
#define H_PHONEHOOKSWITCHDEV_HANDSET 0x1u
#define H_PHONEHOOKSWITCHDEV_SPEAKER 0x2u
#define H_PHONEHOOKSWITCHMODE_ONHOOK 0x01u
#define H_PHONEHOOKSWITCHMODE_MIC 0x02u
#define H_PHONEHOOKSWITCHMODE_SPEAKER 0x04u
#define H_PHONEHOOKSWITCHMODE_MICSPEAKER 0x08u
#define H_PHONELAMPMODE_OFF 0x02u
#define H_PHONELAMPMODE_WINK 0x08u
#define H_PHONELAMPMODE_FLASH 0x10u
#define H_STRINGFORMAT_UNICODE 3u

TSPI_FN(tspi_lineNegotiateTSPIVersion, TSPI_lineNegotiateTSPIVersion, LONG, (DWORD, DWORD, DWORD, DWORD *))
TSPI_FN(tspi_providerEnumDevices, TSPI_providerEnumDevices, LONG, (DWORD, DWORD *, DWORD *, HPROVIDER, LINEEVENT, PHONEEVENT))
TSPI_FN(tspi_providerInit, TSPI_providerInit, LONG, (DWORD, DWORD, DWORD, DWORD, DWORD_PTR, DWORD_PTR, ASYNC_COMPLETION, DWORD *))
TSPI_FN(tspi_providerShutdown, TSPI_providerShutdown, LONG, (DWORD, DWORD))
TSPI_FN(tspi_providerCreatePhoneDevice, TSPI_providerCreatePhoneDevice, LONG, (DWORD_PTR, DWORD))
TSPI_FN(tspi_phoneClose, TSPI_phoneClose, LONG, (HDRVPHONE))
TSPI_FN(raw_phoneDevSpecific, TSPI_phoneDevSpecific, LONG, (DWORD, HDRVPHONE, void *, DWORD))
TSPI_FN(tspi_phoneGetButtonInfo, TSPI_phoneGetButtonInfo, LONG, (HDRVPHONE, DWORD, void *))
TSPI_FN(tspi_phoneGetData, TSPI_phoneGetData, LONG, (HDRVPHONE, DWORD, void *, DWORD))
TSPI_FN(tspi_phoneGetDevCaps, TSPI_phoneGetDevCaps, LONG, (DWORD, DWORD, DWORD, void *))
TSPI_FN(tspi_phoneGetDisplay, TSPI_phoneGetDisplay, LONG, (HDRVPHONE, void *))
TSPI_FN(tspi_phoneGetExtensionID, TSPI_phoneGetExtensionID, LONG, (DWORD, DWORD, void *))
TSPI_FN(tspi_phoneGetGain, TSPI_phoneGetGain, LONG, (HDRVPHONE, DWORD, DWORD *))
TSPI_FN(tspi_phoneGetHookSwitch, TSPI_phoneGetHookSwitch, LONG, (HDRVPHONE, DWORD *))
TSPI_FN(tspi_phoneGetIcon, TSPI_phoneGetIcon, LONG, (DWORD, const uint16_t *, HICON *))
TSPI_FN(tspi_phoneGetID, TSPI_phoneGetID, LONG, (HDRVPHONE, void *, const uint16_t *, HANDLE))
TSPI_FN(tspi_phoneGetLamp, TSPI_phoneGetLamp, LONG, (HDRVPHONE, DWORD, DWORD *))
TSPI_FN(tspi_phoneGetRing, TSPI_phoneGetRing, LONG, (HDRVPHONE, DWORD *, DWORD *))
TSPI_FN(tspi_phoneGetStatus, TSPI_phoneGetStatus, LONG, (HDRVPHONE, void *))
TSPI_FN(tspi_phoneGetVolume, TSPI_phoneGetVolume, LONG, (HDRVPHONE, DWORD, DWORD *))
TSPI_FN(tspi_phoneNegotiateExtVersion, TSPI_phoneNegotiateExtVersion, LONG, (DWORD, DWORD, DWORD, DWORD, DWORD *))
TSPI_FN(tspi_phoneNegotiateTSPIVersion, TSPI_phoneNegotiateTSPIVersion, LONG, (DWORD, DWORD, DWORD, DWORD *))
TSPI_FN(tspi_phoneOpen, TSPI_phoneOpen, LONG, (DWORD, HTAPIPHONE, HDRVPHONE *, DWORD, PHONEEVENT))
TSPI_FN(tspi_phoneSelectExtVersion, TSPI_phoneSelectExtVersion, LONG, (HDRVPHONE, DWORD))
TSPI_FN(tspi_phoneSetButtonInfo, TSPI_phoneSetButtonInfo, LONG, (DWORD, HDRVPHONE, DWORD, void *))
TSPI_FN(tspi_phoneSetData, TSPI_phoneSetData, LONG, (DWORD, HDRVPHONE, DWORD, void *, DWORD))
TSPI_FN(tspi_phoneSetDisplay, TSPI_phoneSetDisplay, LONG, (DWORD, HDRVPHONE, DWORD, DWORD, const uint16_t *, DWORD))
TSPI_FN(tspi_phoneSetGain, TSPI_phoneSetGain, LONG, (DWORD, HDRVPHONE, DWORD, DWORD))
TSPI_FN(tspi_phoneSetHookSwitch, TSPI_phoneSetHookSwitch, LONG, (DWORD, HDRVPHONE, DWORD, DWORD))
TSPI_FN(tspi_phoneSetLamp, TSPI_phoneSetLamp, LONG, (DWORD, HDRVPHONE, DWORD, DWORD))
TSPI_FN(tspi_phoneSetRing, TSPI_phoneSetRing, LONG, (DWORD, HDRVPHONE, DWORD, DWORD))
TSPI_FN(tspi_phoneSetStatusMessages, TSPI_phoneSetStatusMessages, LONG, (HDRVPHONE, DWORD, DWORD, DWORD))
TSPI_FN(tspi_phoneSetVolume, TSPI_phoneSetVolume, LONG, (DWORD, HDRVPHONE, DWORD, DWORD))

static int passed, failed;

static void check(int ok, const char *what) {
    printf("%s %s\n", ok ? "PASS" : "FAIL", what);
    if (ok) passed++; else failed++;
}

#define MAX_ID 200000
static atomic_int completions[MAX_ID];
static atomic_long last_result[MAX_ID];
static atomic_int in_callback, overlaps, total_completions, events_seen;
static atomic_uint last_msg;
static atomic_ulong last_params[3];
/* Every event, in order (the lane serialises them, so no lock is needed). */
#define MAX_EVENTS 256
static struct { HTAPIPHONE ht; DWORD msg; DWORD_PTR p1, p2, p3; } event_log[MAX_EVENTS];
static atomic_int event_count;
/* Run inside the next PHONEEVENT (a TSPI call from a callback), if set. */
static void (*event_hook)(DWORD msg);

static void enter(void) { if (atomic_exchange(&in_callback, 1)) atomic_fetch_add(&overlaps, 1); }
static void leave(void) { atomic_store(&in_callback, 0); }

static void on_completion(DWORD id, LONG result) {
    enter();
    if (id < MAX_ID) { atomic_fetch_add(&completions[id], 1); atomic_store(&last_result[id], result); }
    atomic_fetch_add(&total_completions, 1);
    leave();
}

static void on_event(HTAPIPHONE ht, DWORD msg, DWORD_PTR p1, DWORD_PTR p2, DWORD_PTR p3) {
    enter();
    atomic_fetch_add(&events_seen, 1);
    atomic_store(&last_msg, msg);
    atomic_store(&last_params[0], p1);
    atomic_store(&last_params[1], p2);
    atomic_store(&last_params[2], p3);
    int n = atomic_fetch_add(&event_count, 1);
    if (n < MAX_EVENTS) { event_log[n].ht = ht; event_log[n].msg = msg; event_log[n].p1 = p1; event_log[n].p2 = p2; event_log[n].p3 = p3; }
    if (event_hook) event_hook(msg);
    leave();
}

/* A request completed exactly once with `result`. A provider may complete a
 * request after it returned (an isolated driver always does), so its first
 * completion is waited for, up to 5 s. */
static inline int completed_once(DWORD id, LONG result) {
    for (int i = 0; i < 5000 && completions[id] == 0; i++) usleep(1000);
    return completions[id] == 1 && last_result[id] == result;
}

/* Waits up to 5 s for request `id` to complete; whether it did. */
static inline int wait_completed(DWORD id) {
    for (int i = 0; i < 5000 && completions[id] == 0; i++) usleep(1000);
    return completions[id] != 0;
}

/* Whether the driver runs in a process of its own (the test running the
 * program sets TSP_TEST_ISOLATED=1): such a driver completes every request
 * after the call returned, so a refusal by the driver arrives as the
 * request's one completion rather than as what the call returns. */
static inline int driver_isolated(void) {
    const char *value = getenv("TSP_TEST_ISOLATED");
    return value != NULL && value[0] == '1';
}

/* Request `id`, whose call returned `returned`, was refused by the driver
 * with `error`: in process, the call returned it and it never completes;
 * isolated, it completed once with it (TSPI allows both). */
static inline int driver_refused(LONG returned, DWORD id, LONG error) {
    if (driver_isolated()) return returned == (LONG)id && completed_once(id, error);
    return returned == error && completions[id] == 0;
}

/* TSPI_phoneDevSpecific, with the mock's command done when it returns: an
 * accepted request is waited for (up to 5 s) until it completed, so what the
 * command made the driver report (reported before its completion) has been
 * delivered, whether the driver completes inline or in a process of its own. */
static LONG tspi_phoneDevSpecific(DWORD id, HDRVPHONE hd, void *params, DWORD size) {
    LONG returned = raw_phoneDevSpecific(id, hd, params, size);
    if (returned == (LONG)id && id < MAX_ID)
        for (int i = 0; i < 5000 && completions[id] == 0; i++) usleep(1000);
    return returned;
}

#ifdef _WIN32
typedef HMODULE library_t;
static library_t open_library(const char *path) {
    HMODULE lib = LoadLibraryA(path);
    if (!lib) { fprintf(stderr, "LoadLibrary(%s) failed: Win32 error %lu\n", path, GetLastError()); exit(2); }
    return lib;
}
static void *symbol(library_t lib, const char *name) { return (void *)GetProcAddress(lib, name); }
#else
typedef void *library_t;
static library_t open_library(const char *path) {
    void *lib = dlopen(path, RTLD_NOW);
    if (!lib) { fprintf(stderr, "dlopen: %s\n", dlerror()); exit(2); }
    return lib;
}
static void *symbol(library_t lib, const char *name) { return dlsym(lib, name); }
#endif

static void *resolve(library_t lib, const char *name) {
    void *f = symbol(lib, name);
    if (!f) { fprintf(stderr, "missing export %s\n", name); exit(2); }
    return f;
}

#define RESOLVE(var, name) memcpy(&var, &(void *){resolve(lib, name)}, sizeof var)

static void load(const char *path) {
    library_t lib = open_library(path);
    RESOLVE(tspi_lineNegotiateTSPIVersion, "TSPI_lineNegotiateTSPIVersion");
    RESOLVE(tspi_providerEnumDevices, "TSPI_providerEnumDevices");
    RESOLVE(tspi_providerInit, "TSPI_providerInit");
    RESOLVE(tspi_providerShutdown, "TSPI_providerShutdown");
    RESOLVE(tspi_providerCreatePhoneDevice, "TSPI_providerCreatePhoneDevice");
    RESOLVE(tspi_phoneClose, "TSPI_phoneClose");
    RESOLVE(raw_phoneDevSpecific, "TSPI_phoneDevSpecific");
    RESOLVE(tspi_phoneGetButtonInfo, "TSPI_phoneGetButtonInfo");
    RESOLVE(tspi_phoneGetData, "TSPI_phoneGetData");
    RESOLVE(tspi_phoneGetDevCaps, "TSPI_phoneGetDevCaps");
    RESOLVE(tspi_phoneGetDisplay, "TSPI_phoneGetDisplay");
    RESOLVE(tspi_phoneGetExtensionID, "TSPI_phoneGetExtensionID");
    RESOLVE(tspi_phoneGetGain, "TSPI_phoneGetGain");
    RESOLVE(tspi_phoneGetHookSwitch, "TSPI_phoneGetHookSwitch");
    RESOLVE(tspi_phoneGetIcon, "TSPI_phoneGetIcon");
    RESOLVE(tspi_phoneGetID, "TSPI_phoneGetID");
    RESOLVE(tspi_phoneGetLamp, "TSPI_phoneGetLamp");
    RESOLVE(tspi_phoneGetRing, "TSPI_phoneGetRing");
    RESOLVE(tspi_phoneGetStatus, "TSPI_phoneGetStatus");
    RESOLVE(tspi_phoneGetVolume, "TSPI_phoneGetVolume");
    RESOLVE(tspi_phoneNegotiateExtVersion, "TSPI_phoneNegotiateExtVersion");
    RESOLVE(tspi_phoneNegotiateTSPIVersion, "TSPI_phoneNegotiateTSPIVersion");
    RESOLVE(tspi_phoneOpen, "TSPI_phoneOpen");
    RESOLVE(tspi_phoneSelectExtVersion, "TSPI_phoneSelectExtVersion");
    RESOLVE(tspi_phoneSetButtonInfo, "TSPI_phoneSetButtonInfo");
    RESOLVE(tspi_phoneSetData, "TSPI_phoneSetData");
    RESOLVE(tspi_phoneSetDisplay, "TSPI_phoneSetDisplay");
    RESOLVE(tspi_phoneSetGain, "TSPI_phoneSetGain");
    RESOLVE(tspi_phoneSetHookSwitch, "TSPI_phoneSetHookSwitch");
    RESOLVE(tspi_phoneSetLamp, "TSPI_phoneSetLamp");
    RESOLVE(tspi_phoneSetRing, "TSPI_phoneSetRing");
    RESOLVE(tspi_phoneSetStatusMessages, "TSPI_phoneSetStatusMessages");
    RESOLVE(tspi_phoneSetVolume, "TSPI_phoneSetVolume");
}

/* The index of the first event since `from` with this message, or -1. */
static inline int find_event(int from, DWORD msg) {
    for (int i = from; i < event_count && i < MAX_EVENTS; i++) if (event_log[i].msg == msg) return i;
    return -1;
}

/* find_event, waiting up to 5 s for the event (a provider may deliver it from
 * another thread after the call that caused it returned). */
static inline int wait_event(int from, DWORD msg) {
    int i = find_event(from, msg);
    for (int n = 0; n < 5000 && i < 0; n++) { usleep(1000); i = find_event(from, msg); }
    return i;
}

static inline DWORD u32_at(const uint8_t *buf, size_t off) { DWORD v; memcpy(&v, buf + off, 4); return v; }

/* A buffer for a variable-size structure, with dwTotalSize set as TAPI does. */
static inline void *tapi_buffer(uint8_t *buf, DWORD total) {
    memset(buf, 0, total);
    memcpy(buf, &total, 4);
    return buf;
}

static const DWORD BASE = 3, V31 = 0x00030001;

static void start(void) {
    DWORD v = 0, lines = 99, phones = 99;
    check(tspi_lineNegotiateTSPIVersion(H_INITIALIZE_NEGOTIATION, 0x00020000, V31, &v) == 0 && v == V31,
          "TSPI_lineNegotiateTSPIVersion(H_INITIALIZE_NEGOTIATION) writes 3.1");
    check(tspi_providerEnumDevices(7, &lines, &phones, (HPROVIDER)0x1234, NULL, on_event) == 0 && lines == 0 && phones == 2,
          "TSPI_providerEnumDevices reports 0 lines, 2 phones");
    DWORD options = 77;
    check(tspi_providerInit(V31, 7, 0, BASE, 0, phones, on_completion, &options) == 0 && options == 0,
          "TSPI_providerInit succeeds, reentrant");
}

static int finish(void) {
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}

#endif
