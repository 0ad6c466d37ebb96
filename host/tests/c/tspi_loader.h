/*
 * What the C programs that play TAPISRV share: the TSPI prototypes of the Windows
 * SDK's tspi.h (TAPI_CURRENT_VERSION >= 0x00020000) as function pointers, the
 * constants they check, the loader, TAPI's two callbacks and the check counter.
 * UTF-16 strings are uint16_t, not wchar_t (4 bytes on Linux).
 */
#ifndef TSPI_LOADER_H
#define TSPI_LOADER_H

#define _DEFAULT_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef int32_t LONG;
typedef uint32_t DWORD;
typedef uintptr_t DWORD_PTR;
typedef void *HDRVPHONE, *HTAPIPHONE, *HPROVIDER, *HICON, *HANDLE;
typedef void (*ASYNC_COMPLETION)(DWORD, LONG);
typedef void (*PHONEEVENT)(HTAPIPHONE, DWORD, DWORD_PTR, DWORD_PTR, DWORD_PTR);
typedef void (*LINEEVENT)(void *, void *, DWORD, DWORD_PTR, DWORD_PTR, DWORD_PTR);

#define INITIALIZE_NEGOTIATION 0xFFFFFFFFu
#define LINEERR_INCOMPATIBLEAPIVERSION ((LONG)0x8000000C)
#define LINEERR_INVALPOINTER ((LONG)0x80000035)
#define PHONEERR_ALLOCATED ((LONG)0x90000001)
#define PHONEERR_BADDEVICEID ((LONG)0x90000002)
#define PHONEERR_INCOMPATIBLEAPIVERSION ((LONG)0x90000003)
#define PHONEERR_INCOMPATIBLEEXTVERSION ((LONG)0x90000004)
#define PHONEERR_INVALBUTTONLAMPID ((LONG)0x90000009)
#define PHONEERR_INVALDATAID ((LONG)0x9000000C)
#define PHONEERR_INVALDEVICECLASS ((LONG)0x9000000D)
#define PHONEERR_INVALHOOKSWITCHDEV ((LONG)0x9000000F)
#define PHONEERR_INVALHOOKSWITCHMODE ((LONG)0x90000010)
#define PHONEERR_INVALLAMPMODE ((LONG)0x90000011)
#define PHONEERR_INVALPARAM ((LONG)0x90000012)
#define PHONEERR_INVALPHONEHANDLE ((LONG)0x90000013)
#define PHONEERR_INVALPOINTER ((LONG)0x90000015)
#define PHONEERR_INVALRINGMODE ((LONG)0x90000017)
#define PHONEERR_OPERATIONFAILED ((LONG)0x9000001C)
#define PHONEERR_STRUCTURETOOSMALL ((LONG)0x90000021)
#define PHONE_BUTTON 0x0E
#define PHONE_CLOSE 0x0F
#define PHONE_STATE 0x12
#define PHONE_CREATE 0x14
#define PHONE_REMOVE 0x1A
#define PHONEERR_INVALPHONESTATE ((LONG)0x90000014)
#define PHONESTATE_CONNECTED 0x00000002u
#define PHONESTATE_DISCONNECTED 0x00000004u
#define PHONESTATE_LAMP 0x00000040u
#define PHONESTATE_DISPLAY 0x00000020u
#define PHONESTATE_REINIT 0x00200000u
#define PHONEBUTTONMODE_KEYPAD 0x08u
#define PHONEBUTTONMODE_FEATURE 0x04u
#define PHONEHOOKSWITCHDEV_HANDSET 0x1u
#define PHONEHOOKSWITCHDEV_SPEAKER 0x2u
#define PHONEHOOKSWITCHMODE_ONHOOK 0x01u
#define PHONEHOOKSWITCHMODE_MIC 0x02u
#define PHONEHOOKSWITCHMODE_SPEAKER 0x04u
#define PHONEHOOKSWITCHMODE_MICSPEAKER 0x08u
#define PHONELAMPMODE_OFF 0x02u
#define PHONELAMPMODE_WINK 0x08u
#define PHONELAMPMODE_FLASH 0x10u
#define STRINGFORMAT_UNICODE 3u

static LONG (*lineNegotiateTSPIVersion)(DWORD, DWORD, DWORD, DWORD *);
static LONG (*providerEnumDevices)(DWORD, DWORD *, DWORD *, HPROVIDER, LINEEVENT, PHONEEVENT);
static LONG (*providerInit)(DWORD, DWORD, DWORD, DWORD, DWORD_PTR, DWORD_PTR, ASYNC_COMPLETION, DWORD *);
static LONG (*providerShutdown)(DWORD, DWORD);
static LONG (*providerCreatePhoneDevice)(DWORD_PTR, DWORD);
static LONG (*phoneClose)(HDRVPHONE);
static LONG (*phoneDevSpecific)(DWORD, HDRVPHONE, void *, DWORD);
static LONG (*phoneGetButtonInfo)(HDRVPHONE, DWORD, void *);
static LONG (*phoneGetData)(HDRVPHONE, DWORD, void *, DWORD);
static LONG (*phoneGetDevCaps)(DWORD, DWORD, DWORD, void *);
static LONG (*phoneGetDisplay)(HDRVPHONE, void *);
static LONG (*phoneGetExtensionID)(DWORD, DWORD, void *);
static LONG (*phoneGetGain)(HDRVPHONE, DWORD, DWORD *);
static LONG (*phoneGetHookSwitch)(HDRVPHONE, DWORD *);
static LONG (*phoneGetIcon)(DWORD, const uint16_t *, HICON *);
static LONG (*phoneGetID)(HDRVPHONE, void *, const uint16_t *, HANDLE);
static LONG (*phoneGetLamp)(HDRVPHONE, DWORD, DWORD *);
static LONG (*phoneGetRing)(HDRVPHONE, DWORD *, DWORD *);
static LONG (*phoneGetStatus)(HDRVPHONE, void *);
static LONG (*phoneGetVolume)(HDRVPHONE, DWORD, DWORD *);
static LONG (*phoneNegotiateExtVersion)(DWORD, DWORD, DWORD, DWORD, DWORD *);
static LONG (*phoneNegotiateTSPIVersion)(DWORD, DWORD, DWORD, DWORD *);
static LONG (*phoneOpen)(DWORD, HTAPIPHONE, HDRVPHONE *, DWORD, PHONEEVENT);
static LONG (*phoneSelectExtVersion)(HDRVPHONE, DWORD);
static LONG (*phoneSetButtonInfo)(DWORD, HDRVPHONE, DWORD, void *);
static LONG (*phoneSetData)(DWORD, HDRVPHONE, DWORD, void *, DWORD);
static LONG (*phoneSetDisplay)(DWORD, HDRVPHONE, DWORD, DWORD, const uint16_t *, DWORD);
static LONG (*phoneSetGain)(DWORD, HDRVPHONE, DWORD, DWORD);
static LONG (*phoneSetHookSwitch)(DWORD, HDRVPHONE, DWORD, DWORD);
static LONG (*phoneSetLamp)(DWORD, HDRVPHONE, DWORD, DWORD);
static LONG (*phoneSetRing)(DWORD, HDRVPHONE, DWORD, DWORD);
static LONG (*phoneSetStatusMessages)(HDRVPHONE, DWORD, DWORD, DWORD);
static LONG (*phoneSetVolume)(DWORD, HDRVPHONE, DWORD, DWORD);

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

/* A request completed exactly once with `result`. */
static inline int completed_once(DWORD id, LONG result) {
    return completions[id] == 1 && last_result[id] == result;
}

static void *resolve(void *lib, const char *name) {
    void *f = dlsym(lib, name);
    if (!f) { fprintf(stderr, "missing export %s\n", name); exit(2); }
    return f;
}

#define RESOLVE(var, name) *(void **)(&var) = resolve(lib, name)

static void load(const char *path) {
    void *lib = dlopen(path, RTLD_NOW);
    if (!lib) { fprintf(stderr, "dlopen: %s\n", dlerror()); exit(2); }
    RESOLVE(lineNegotiateTSPIVersion, "TSPI_lineNegotiateTSPIVersion");
    RESOLVE(providerEnumDevices, "TSPI_providerEnumDevices");
    RESOLVE(providerInit, "TSPI_providerInit");
    RESOLVE(providerShutdown, "TSPI_providerShutdown");
    RESOLVE(providerCreatePhoneDevice, "TSPI_providerCreatePhoneDevice");
    RESOLVE(phoneClose, "TSPI_phoneClose");
    RESOLVE(phoneDevSpecific, "TSPI_phoneDevSpecific");
    RESOLVE(phoneGetButtonInfo, "TSPI_phoneGetButtonInfo");
    RESOLVE(phoneGetData, "TSPI_phoneGetData");
    RESOLVE(phoneGetDevCaps, "TSPI_phoneGetDevCaps");
    RESOLVE(phoneGetDisplay, "TSPI_phoneGetDisplay");
    RESOLVE(phoneGetExtensionID, "TSPI_phoneGetExtensionID");
    RESOLVE(phoneGetGain, "TSPI_phoneGetGain");
    RESOLVE(phoneGetHookSwitch, "TSPI_phoneGetHookSwitch");
    RESOLVE(phoneGetIcon, "TSPI_phoneGetIcon");
    RESOLVE(phoneGetID, "TSPI_phoneGetID");
    RESOLVE(phoneGetLamp, "TSPI_phoneGetLamp");
    RESOLVE(phoneGetRing, "TSPI_phoneGetRing");
    RESOLVE(phoneGetStatus, "TSPI_phoneGetStatus");
    RESOLVE(phoneGetVolume, "TSPI_phoneGetVolume");
    RESOLVE(phoneNegotiateExtVersion, "TSPI_phoneNegotiateExtVersion");
    RESOLVE(phoneNegotiateTSPIVersion, "TSPI_phoneNegotiateTSPIVersion");
    RESOLVE(phoneOpen, "TSPI_phoneOpen");
    RESOLVE(phoneSelectExtVersion, "TSPI_phoneSelectExtVersion");
    RESOLVE(phoneSetButtonInfo, "TSPI_phoneSetButtonInfo");
    RESOLVE(phoneSetData, "TSPI_phoneSetData");
    RESOLVE(phoneSetDisplay, "TSPI_phoneSetDisplay");
    RESOLVE(phoneSetGain, "TSPI_phoneSetGain");
    RESOLVE(phoneSetHookSwitch, "TSPI_phoneSetHookSwitch");
    RESOLVE(phoneSetLamp, "TSPI_phoneSetLamp");
    RESOLVE(phoneSetRing, "TSPI_phoneSetRing");
    RESOLVE(phoneSetStatusMessages, "TSPI_phoneSetStatusMessages");
    RESOLVE(phoneSetVolume, "TSPI_phoneSetVolume");
}

/* The index of the first event since `from` with this message, or -1. */
static inline int find_event(int from, DWORD msg) {
    for (int i = from; i < event_count && i < MAX_EVENTS; i++) if (event_log[i].msg == msg) return i;
    return -1;
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
    check(lineNegotiateTSPIVersion(INITIALIZE_NEGOTIATION, 0x00020000, V31, &v) == 0 && v == V31,
          "TSPI_lineNegotiateTSPIVersion(INITIALIZE_NEGOTIATION) writes 3.1");
    check(providerEnumDevices(7, &lines, &phones, (HPROVIDER)0x1234, NULL, on_event) == 0 && lines == 0 && phones == 2,
          "TSPI_providerEnumDevices reports 0 lines, 2 phones");
    DWORD options = 77;
    check(providerInit(V31, 7, 0, BASE, 0, phones, on_completion, &options) == 0 && options == 0,
          "TSPI_providerInit succeeds, reentrant");
}

static int finish(void) {
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}

#endif
