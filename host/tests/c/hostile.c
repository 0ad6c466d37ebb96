/*
 * Hostile C arguments through every export: each pointer null, made-up and stale
 * handles, device ids past the range, data, button, lamp and hookswitch ids past
 * the caps, dwTotalSize below the fixed part, PHONEBUTTONINFO members that
 * overflow, point past dwTotalSize or are huge, SetDisplay text of an odd size or
 * without its NUL. Each must give its exact error, write nothing, complete
 * nothing, and never crash.
 *
 * What TAPI guarantees is not tested: that dwTotalSize (or dwSize) bytes are
 * really there, that a class name ends with a NUL. Every buffer here is at least
 * as large as the size it claims; the bytes past a claimed size are filled with
 * a sentinel, so a read or write past it shows.
 *
 * On the mock's phone 0 (display 2 x 16, keypad ids 0-11, lamps 12 and 13, a
 * handset, 3 ring modes, four 256-byte data areas, class "tsp-rs/mock").
 * Usage: hostile /path/to/libtsp_host.so
 */
#include "tspi_loader.h"

TSPI_FN(tspi_providerUIIdentify, TSPI_providerUIIdentify, LONG, (uint16_t *))
TSPI_FN(tspi_providerGenericDialogData, TSPI_providerGenericDialogData, LONG, (DWORD_PTR, DWORD, void *, DWORD))
TSPI_FN(tspi_providerConfig, TSPI_providerConfig, LONG, (void *, DWORD))
TSPI_FN(tspi_providerInstall, TSPI_providerInstall, LONG, (void *, DWORD))
TSPI_FN(tspi_providerRemove, TSPI_providerRemove, LONG, (void *, DWORD))
TSPI_FN(tuispi_providerInstall, TUISPI_providerInstall, LONG, (void *, void *, DWORD))
TSPI_FN(tuispi_providerRemove, TUISPI_providerRemove, LONG, (void *, void *, DWORD))
TSPI_FN(tuispi_phoneConfigDialog, TUISPI_phoneConfigDialog, LONG, (void *, DWORD, void *, const uint16_t *))

#define X_LINEERR_BADDEVICEID ((LONG)0x80000002)
#define X_LINEERR_INVALPARAM ((LONG)0x80000032)
#define X_LINEERR_OPERATIONUNAVAIL ((LONG)0x80000049)
#define X_PHONEERR_INVALBUTTONMODE ((LONG)0x9000000A)
#define X_PHONEERR_INVALBUTTONSTATE ((LONG)0x9000000B)
#define X_PHONEERR_OPERATIONUNAVAIL ((LONG)0x9000001D)
#define X_PHONEHOOKSWITCHDEV_HEADSET 0x4u
#define X_PHONEHOOKSWITCHMODE_UNKNOWN 0x10u
#define X_PHONELAMPMODE_STEADY 0x4u

#define SENT 0xA5A5A5A5u
#define SENT_BYTE 0xEE
#define V20 0x00020000u

static const char *const HEX = "0123456789ABCDEF";
static char what[512];
#define CHECKF(ok, ...) do { snprintf(what, sizeof what, __VA_ARGS__); check((ok), what); } while (0)

static DWORD next_id = 1000;

/* A request the export refused: the exact error returned, nothing completed. */
static int refused(LONG returned, LONG expected, DWORD id) {
    return returned == expected && completions[id] == 0;
}

/* A request the export accepted: its id returned, completed once with `result`. */
static int accepted(LONG returned, DWORD id, LONG result) {
    return returned == (LONG)id && completed_once(id, result);
}

/* Every byte of buf[from..to) is the sentinel. */
static int untouched(const uint8_t *buf, size_t from, size_t to) {
    for (size_t i = from; i < to; i++) if (buf[i] != SENT_BYTE) return 0;
    return 1;
}

/* A buffer of `size` sentinel bytes whose dwTotalSize claims `total` (<= size). */
static void *claimed(uint8_t *buf, size_t size, DWORD total) {
    memset(buf, SENT_BYTE, size);
    memcpy(buf, &total, 4);
    return buf;
}

static void utf16(uint16_t *out, const char *text) {
    while ((*out++ = (uint8_t)*text++)) {}
}

static const char *hex_handle(HDRVPHONE h) {
    static char text[2 + 16 + 1];
    uint64_t v = (uint64_t)(uintptr_t)h;
    text[0] = '0'; text[1] = 'x';
    for (int i = 0; i < 16; i++) text[2 + i] = HEX[(v >> (60 - 4 * i)) & 0xF];
    text[18] = 0;
    return text;
}

static HDRVPHONE made_up(uint64_t value) { return (HDRVPHONE)(uintptr_t)value; }

/* ---- every export that takes a phone handle, refusing `h` --------------------- */

static void handle_refused_everywhere(HDRVPHONE h, const char *kind) {
    char name[64];
    snprintf(name, sizeof name, "%s handle %s", kind, hex_handle(h));
    const LONG E = H_PHONEERR_INVALPHONEHANDLE;
    uint8_t buf[256];
    DWORD a = SENT, b = SENT, id;
    uint16_t text[32];

    memset(buf, SENT_BYTE, sizeof buf);
    CHECKF(tspi_phoneGetData(h, 0, buf, 16) == E && untouched(buf, 0, sizeof buf), "GetData: %s, buffer untouched", name);
    CHECKF(tspi_phoneGetStatus(h, claimed(buf, sizeof buf, sizeof buf)) == E && untouched(buf, 4, sizeof buf), "GetStatus: %s, nothing written", name);
    CHECKF(tspi_phoneGetButtonInfo(h, 1, claimed(buf, sizeof buf, sizeof buf)) == E && untouched(buf, 4, sizeof buf), "GetButtonInfo: %s, nothing written", name);
    CHECKF(tspi_phoneGetDisplay(h, claimed(buf, sizeof buf, sizeof buf)) == E && untouched(buf, 4, sizeof buf), "GetDisplay: %s, nothing written", name);
    utf16(text, "tsp-rs/mock");
    CHECKF(tspi_phoneGetID(h, claimed(buf, sizeof buf, sizeof buf), text, NULL) == E && untouched(buf, 4, sizeof buf), "GetID: %s, nothing written", name);
    CHECKF(tspi_phoneGetGain(h, H_PHONEHOOKSWITCHDEV_HANDSET, &a) == E && a == SENT, "GetGain: %s, nothing written", name);
    CHECKF(tspi_phoneGetVolume(h, H_PHONEHOOKSWITCHDEV_HANDSET, &a) == E && a == SENT, "GetVolume: %s, nothing written", name);
    CHECKF(tspi_phoneGetHookSwitch(h, &a) == E && a == SENT, "GetHookSwitch: %s, nothing written", name);
    CHECKF(tspi_phoneGetLamp(h, 12, &a) == E && a == SENT, "GetLamp: %s, nothing written", name);
    CHECKF(tspi_phoneGetRing(h, &a, &b) == E && a == SENT && b == SENT, "GetRing: %s, nothing written", name);
    CHECKF(tspi_phoneSelectExtVersion(h, 0) == E, "SelectExtVersion: %s", name);
    CHECKF(tspi_phoneSetStatusMessages(h, 0, 0, 0) == E, "SetStatusMessages: %s", name);

    id = next_id++;
    CHECKF(refused(tspi_phoneSetData(id, h, 0, "x", 1), E, id), "SetData: %s, no completion", name);
    id = next_id++;
    CHECKF(refused(tspi_phoneDevSpecific(id, h, "press 1", 7), E, id), "DevSpecific: %s, no completion", name);
    uint8_t info[64];
    claimed(info, sizeof info, sizeof info);
    memset(info + 4, 0, sizeof info - 4);
    DWORD function = 4; memcpy(info + 16, &function, 4);
    id = next_id++;
    CHECKF(refused(tspi_phoneSetButtonInfo(id, h, 12, (void *)info), E, id), "SetButtonInfo: %s, no completion", name);
    utf16(text, "Hi");
    id = next_id++;
    CHECKF(refused(tspi_phoneSetDisplay(id, h, 0, 0, text, 6), E, id), "SetDisplay: %s, no completion", name);
    id = next_id++;
    CHECKF(refused(tspi_phoneSetGain(id, h, H_PHONEHOOKSWITCHDEV_HANDSET, 1), E, id), "SetGain: %s, no completion", name);
    id = next_id++;
    CHECKF(refused(tspi_phoneSetVolume(id, h, H_PHONEHOOKSWITCHDEV_HANDSET, 1), E, id), "SetVolume: %s, no completion", name);
    id = next_id++;
    CHECKF(refused(tspi_phoneSetHookSwitch(id, h, H_PHONEHOOKSWITCHDEV_HANDSET, H_PHONEHOOKSWITCHMODE_ONHOOK), E, id), "SetHookSwitch: %s, no completion", name);
    id = next_id++;
    CHECKF(refused(tspi_phoneSetLamp(id, h, 12, H_PHONELAMPMODE_OFF), E, id), "SetLamp: %s, no completion", name);
    id = next_id++;
    CHECKF(refused(tspi_phoneSetRing(id, h, 0, 0), E, id), "SetRing: %s, no completion", name);
    CHECKF(tspi_phoneClose(h) == E, "Close: %s", name);
}

/* Handles nobody handed out, some a bit off the real one `real`. */
static void made_up_handles(HDRVPHONE real) {
    uint64_t r = (uint64_t)(uintptr_t)real;
    const uint64_t values[] = {
        0, 1, 0xFFFFFFFFu, 0xDEADBEEFu, 0x9E3779B97F4A7C15ull, (uint64_t)UINTPTR_MAX,
        r ^ 1,                        /* the real slot, another generation */
        r + (1ull << 32),             /* the next slot, the same generation */
        r + (1000ull << 32),          /* a slot far past the table */
        r & 0xFFFFFFFFu,              /* no slot at all */
    };
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        if (values[i] == r) continue;
        handle_refused_everywhere(made_up(values[i]), "a made-up");
    }
}

/* ---- every export that takes a device id, refusing `device` -------------------- */

static void device_refused_everywhere(DWORD device, const char *kind) {
    char name[96];
    snprintf(name, sizeof name, "%s device id 0x%08X", kind, (unsigned)device);
    const LONG E = H_PHONEERR_BADDEVICEID;
    uint8_t buf[512];
    DWORD v = SENT;
    if (device != H_INITIALIZE_NEGOTIATION)
        CHECKF(tspi_phoneNegotiateTSPIVersion(device, V20, V31, &v) == E && v == SENT, "NegotiateTSPIVersion: %s, nothing written", name);
    CHECKF(tspi_phoneGetDevCaps(device, V31, 0, claimed(buf, sizeof buf, sizeof buf)) == E && untouched(buf, 4, sizeof buf), "GetDevCaps: %s, nothing written", name);
    HDRVPHONE hd = made_up(0x5A5A5A5A);
    CHECKF(tspi_phoneOpen(device, (HTAPIPHONE)0x91, &hd, V31, on_event) == E && hd == made_up(0x5A5A5A5A), "Open: %s, no handle written", name);
    memset(buf, SENT_BYTE, 16);
    CHECKF(tspi_phoneGetExtensionID(device, V31, (void *)buf) == E && untouched(buf, 0, 16), "GetExtensionID: %s, nothing written", name);
    v = SENT;
    CHECKF(tspi_phoneNegotiateExtVersion(device, V31, 1, 0x10000, &v) == E && v == SENT, "NegotiateExtVersion: %s, nothing written", name);
    HICON icon = (HICON)0x5A5A;
    CHECKF(tspi_phoneGetIcon(device, NULL, &icon) == E && icon == (HICON)0x5A5A, "GetIcon: %s, no icon written", name);
    CHECKF(tuispi_phoneConfigDialog(NULL, device, NULL, NULL) == X_PHONEERR_OPERATIONUNAVAIL, "TUISPI_phoneConfigDialog: %s", name);
}

static void devices_past_the_range(const char *when) {
    char kind[64];
    snprintf(kind, sizeof kind, "%s: a", when);
    const DWORD ids[] = {0, BASE - 1, BASE + 2, BASE + 1000, 0x7FFFFFFFu, 0xFFFFFFFEu, H_INITIALIZE_NEGOTIATION};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) device_refused_everywhere(ids[i], kind);
}

/* ---- the provider functions ------------------------------------------------------- */

static void provider_functions_before_init(void) {
    DWORD v = SENT, lines = SENT, phones = SENT;
    check(tspi_providerShutdown(V31, 7) == 0, "providerShutdown without an init: success, nothing to do");
    check(tspi_lineNegotiateTSPIVersion(H_INITIALIZE_NEGOTIATION, V20, V31, NULL) == H_LINEERR_INVALPOINTER,
          "lineNegotiateTSPIVersion: null lpdwTSPIVersion is INVALPOINTER");
    check(tspi_lineNegotiateTSPIVersion(0, V20, V31, &v) == X_LINEERR_BADDEVICEID && v == SENT,
          "lineNegotiateTSPIVersion: a line device id (there are none) is BADDEVICEID, nothing written");
    check(tspi_lineNegotiateTSPIVersion(BASE, V20, V31, &v) == X_LINEERR_BADDEVICEID && v == SENT,
          "lineNegotiateTSPIVersion: a phone's id is no line: BADDEVICEID, nothing written");
    check(tspi_lineNegotiateTSPIVersion(H_INITIALIZE_NEGOTIATION, V31, V20, &v) == H_LINEERR_INCOMPATIBLEAPIVERSION && v == SENT,
          "lineNegotiateTSPIVersion: low above high is INCOMPATIBLEAPIVERSION, nothing written");
    check(tspi_lineNegotiateTSPIVersion(H_INITIALIZE_NEGOTIATION, 0, 0, &v) == H_LINEERR_INCOMPATIBLEAPIVERSION && v == SENT,
          "lineNegotiateTSPIVersion: version 0 is INCOMPATIBLEAPIVERSION, nothing written");
    check(tspi_lineNegotiateTSPIVersion(H_INITIALIZE_NEGOTIATION, 0, 0xFFFFFFFFu, &v) == 0 && v == V31,
          "lineNegotiateTSPIVersion: the widest range gives 3.1");

    check(tspi_providerEnumDevices(7, NULL, &phones, (HPROVIDER)0x1234, NULL, on_event) == H_LINEERR_INVALPOINTER && phones == SENT,
          "providerEnumDevices: null lpdwNumLines is INVALPOINTER, lpdwNumPhones untouched");
    check(tspi_providerEnumDevices(7, &lines, NULL, (HPROVIDER)0x1234, NULL, on_event) == H_LINEERR_INVALPOINTER && lines == SENT,
          "providerEnumDevices: null lpdwNumPhones is INVALPOINTER, lpdwNumLines untouched");
    check(tspi_providerEnumDevices(7, NULL, NULL, (HPROVIDER)0x1234, NULL, on_event) == H_LINEERR_INVALPOINTER,
          "providerEnumDevices: both null is INVALPOINTER");

    DWORD options = SENT;
    check(tspi_providerInit(V31, 7, 0, BASE, 0, 2, NULL, &options) == H_LINEERR_INVALPOINTER && options == SENT,
          "providerInit: null lpfnCompletionProc is INVALPOINTER, lpdwTSPIOptions untouched");
    HDRVPHONE hd = made_up(0x5A5A5A5A);
    check(tspi_phoneOpen(BASE, (HTAPIPHONE)0x91, &hd, V31, on_event) == H_PHONEERR_BADDEVICEID && hd == made_up(0x5A5A5A5A),
          "a refused init gave no device an id: Open(BASE) is BADDEVICEID");

    /* Device ids base .. base + phones - 1 must neither wrap nor reach
     * INITIALIZE_NEGOTIATION (0xFFFFFFFF). */
    check(tspi_providerEnumDevices(7, &lines, &phones, (HPROVIDER)0x1234, NULL, on_event) == 0 && phones == 2,
          "providerEnumDevices: 2 phones");
    options = SENT;
    check(tspi_providerInit(V31, 7, 0, 0xFFFFFFFFu, 0, phones, on_completion, &options) == X_LINEERR_INVALPARAM && options == SENT,
          "providerInit: a phone base whose ids wrap past 0xFFFFFFFF is INVALPARAM, nothing written");
    check(tspi_providerInit(V31, 7, 0, 0xFFFFFFFEu, 0, phones, on_completion, &options) == X_LINEERR_INVALPARAM && options == SENT,
          "providerInit: a phone base whose last id is INITIALIZE_NEGOTIATION is INVALPARAM");
    check(tspi_providerInit(V31, 7, 0, 0xFFFFFFFFu, 0, 0, on_completion, &options) == X_LINEERR_INVALPARAM && options == SENT,
          "providerInit: dwNumPhones 0 does not hide the phones the provider has");
    check(tspi_providerInit(V31, 7, 0, 0xFFFFFFF0u, 0, (DWORD_PTR)0x100000020ull, on_completion, &options) == X_LINEERR_INVALPARAM,
          "providerInit: the low DWORD of dwNumPhones (0x20) counts: past 0xFFFFFFFF from 0xFFFFFFF0, INVALPARAM");
    v = SENT;
    check(tspi_phoneNegotiateTSPIVersion(0xFFFFFFFEu, V20, V31, &v) == H_PHONEERR_BADDEVICEID && v == SENT,
          "a refused init gave no device an id: 0xFFFFFFFE is BADDEVICEID");

    devices_past_the_range("before init");
    handle_refused_everywhere(made_up(1ull << 32 | 1), "before init, a");
    check(tspi_providerCreatePhoneDevice(0, BASE) == H_PHONEERR_BADDEVICEID, "providerCreatePhoneDevice before init: BADDEVICEID");
}

static void provider_functions_without_state(void) {
    uint16_t path[300];
    for (size_t i = 0; i < 300; i++) path[i] = 0xEEEE;
    check(tspi_providerUIIdentify(NULL) == H_LINEERR_INVALPOINTER, "providerUIIdentify: null lpszUIDLLName is INVALPOINTER");
    int nul = 0, past = 1;
    LONG r = tspi_providerUIIdentify(path);
    for (size_t i = 0; i < 260; i++) if (path[i] == 0) { nul = 1; break; }
    for (size_t i = 260; i < 300; i++) if (path[i] != 0xEEEE) past = 0;
    check(r == 0 && nul && past, "providerUIIdentify: a NUL within MAX_PATH units, nothing past them");
    check(tspi_providerGenericDialogData(0, 0, NULL, 100) == X_LINEERR_OPERATIONUNAVAIL,
          "providerGenericDialogData: null lpParams with dwSize 100 is OPERATIONUNAVAIL (no dialogs), not read");
    check(tspi_providerGenericDialogData((DWORD_PTR)-1, 0xFFFFFFFFu, (void *)path, 0xFFFFFFFFu) == X_LINEERR_OPERATIONUNAVAIL,
          "providerGenericDialogData: any arguments are OPERATIONUNAVAIL");
    check(tspi_providerConfig(NULL, 0xFFFFFFFFu) == X_LINEERR_OPERATIONUNAVAIL, "providerConfig: OPERATIONUNAVAIL");
    check(tspi_providerInstall((void *)0x1234, 0xFFFFFFFFu) == 0, "providerInstall with a made-up window: success");
    check(tspi_providerRemove(NULL, 0xFFFFFFFFu) == 0, "providerRemove with a null window: success");
    check(tuispi_providerInstall(NULL, NULL, 7) == 0, "TUISPI_providerInstall with null callback and window: success");
    check(tuispi_providerRemove(NULL, (void *)0x1234, 7) == 0, "TUISPI_providerRemove: success");
    check(tuispi_phoneConfigDialog(NULL, BASE, NULL, NULL) == X_PHONEERR_OPERATIONUNAVAIL,
          "TUISPI_phoneConfigDialog with null everything: OPERATIONUNAVAIL");
}

/* ---- device-id functions on a valid id ------------------------------------------ */

static void device_functions(void) {
    DWORD v = SENT;
    uint8_t buf[512];
    check(tspi_phoneNegotiateTSPIVersion(BASE, V20, V31, NULL) == H_PHONEERR_INVALPOINTER, "phoneNegotiateTSPIVersion: null pointer");
    check(tspi_phoneNegotiateTSPIVersion(H_INITIALIZE_NEGOTIATION, V20, V31, &v) == 0 && v == V31,
          "phoneNegotiateTSPIVersion(INITIALIZE_NEGOTIATION) is answered (reference §9.1, the tolerant reading)");
    v = SENT;
    check(tspi_phoneNegotiateTSPIVersion(BASE, 0x00030002u, 0x00030005u, &v) == H_PHONEERR_INCOMPATIBLEAPIVERSION && v == SENT,
          "phoneNegotiateTSPIVersion above 3.1: INCOMPATIBLEAPIVERSION, nothing written");
    check(tspi_phoneNegotiateTSPIVersion(BASE, 0xFFFFFFFFu, 0, &v) == H_PHONEERR_INCOMPATIBLEAPIVERSION && v == SENT,
          "phoneNegotiateTSPIVersion, low above high: INCOMPATIBLEAPIVERSION, nothing written");

    check(tspi_phoneGetDevCaps(BASE, V31, 0, NULL) == H_PHONEERR_INVALPOINTER, "GetDevCaps: null lpPhoneCaps");
    const DWORD versions[] = {0, 0x00010004u, 0x00020003u, 0x00030002u, 0xFFFFFFFFu};
    for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++) {
        CHECKF(tspi_phoneGetDevCaps(BASE, versions[i], 0, claimed(buf, sizeof buf, sizeof buf)) == H_PHONEERR_INCOMPATIBLEAPIVERSION &&
               untouched(buf, 4, sizeof buf), "GetDevCaps with version 0x%08X: INCOMPATIBLEAPIVERSION, nothing written", (unsigned)versions[i]);
        HDRVPHONE hd = made_up(0x5A5A5A5A);
        CHECKF(tspi_phoneOpen(BASE, (HTAPIPHONE)0x91, &hd, versions[i], on_event) == H_PHONEERR_INCOMPATIBLEAPIVERSION && hd == made_up(0x5A5A5A5A),
               "Open with version 0x%08X: INCOMPATIBLEAPIVERSION, no handle", (unsigned)versions[i]);
        memset(buf, SENT_BYTE, 16);
        CHECKF(tspi_phoneGetExtensionID(BASE, versions[i], (void *)buf) == H_PHONEERR_INCOMPATIBLEAPIVERSION && untouched(buf, 0, 16),
               "GetExtensionID with version 0x%08X: INCOMPATIBLEAPIVERSION, nothing written", (unsigned)versions[i]);
        v = SENT;
        CHECKF(tspi_phoneNegotiateExtVersion(BASE, versions[i], 1, 0x10000, &v) == H_PHONEERR_INCOMPATIBLEAPIVERSION && v == SENT,
               "NegotiateExtVersion with version 0x%08X: INCOMPATIBLEAPIVERSION, nothing written", (unsigned)versions[i]);
    }

    /* dwTotalSize below the fixed part: 180 bytes under 2.0, 196 from 2.2. */
    const struct { DWORD total, version; } small[] = {{0, V31}, {4, V31}, {100, V31}, {195, V31}, {179, V20}};
    for (size_t i = 0; i < sizeof small / sizeof small[0]; i++)
        CHECKF(tspi_phoneGetDevCaps(BASE, small[i].version, 0, claimed(buf, sizeof buf, small[i].total)) == H_PHONEERR_STRUCTURETOOSMALL &&
               u32_at(buf, 0) == small[i].total && untouched(buf, 4, sizeof buf),
               "GetDevCaps, dwTotalSize %u (version 0x%08X): STRUCTURETOOSMALL, nothing written", (unsigned)small[i].total, (unsigned)small[i].version);
    check(tspi_phoneGetDevCaps(BASE, V20, 0, claimed(buf, sizeof buf, 180)) == 0 && u32_at(buf, 8) == 180 && u32_at(buf, 0) == 180 &&
          untouched(buf, 180, sizeof buf), "GetDevCaps, exactly the 2.0 fixed part: success, nothing past dwTotalSize");
    check(tspi_phoneGetDevCaps(BASE, V31, 0, claimed(buf, sizeof buf, 196)) == 0 && u32_at(buf, 8) == 196 &&
          untouched(buf, 196, sizeof buf), "GetDevCaps, exactly the 3.1 fixed part: success, nothing past dwTotalSize");
    check(tspi_phoneGetDevCaps(BASE, V31, 0, claimed(buf, sizeof buf, 300)) == 0 && u32_at(buf, 8) <= 300 &&
          untouched(buf, 300, sizeof buf), "GetDevCaps, 300 bytes: nothing past dwTotalSize");

    HDRVPHONE hd = made_up(0x5A5A5A5A);
    check(tspi_phoneOpen(BASE, (HTAPIPHONE)0x91, NULL, V31, on_event) == H_PHONEERR_INVALPOINTER, "Open: null lphdPhone");
    check(tspi_phoneOpen(BASE, (HTAPIPHONE)0x91, &hd, V31, NULL) == H_PHONEERR_INVALPOINTER && hd == made_up(0x5A5A5A5A),
          "Open: null lpfnEventProc, no handle written");
    check(tspi_phoneGetExtensionID(BASE, V31, NULL) == H_PHONEERR_INVALPOINTER, "GetExtensionID: null lpExtensionID");
    check(tspi_phoneNegotiateExtVersion(BASE, V31, 1, 0x10000, NULL) == H_PHONEERR_INVALPOINTER, "NegotiateExtVersion: null lpdwExtVersion");
    v = SENT;
    check(tspi_phoneNegotiateExtVersion(BASE, V31, 0xFFFFFFFFu, 0, &v) == H_PHONEERR_INCOMPATIBLEEXTVERSION && v == SENT,
          "NegotiateExtVersion, low above high: INCOMPATIBLEEXTVERSION, nothing written");
    check(tspi_phoneGetIcon(BASE, NULL, NULL) == H_PHONEERR_INVALPOINTER, "GetIcon: null lphIcon");

    /* Class names: NUL-terminated is TAPI's contract; too long or not UTF-16 is not. */
    static uint16_t long_class[2001];
    for (int i = 0; i < 2000; i++) long_class[i] = 'a';
    long_class[2000] = 0;
    HICON icon = (HICON)0x5A5A;
    check(tspi_phoneGetIcon(BASE, long_class, &icon) == H_PHONEERR_INVALDEVICECLASS && icon == (HICON)0x5A5A,
          "GetIcon: a 2000-unit class is INVALDEVICECLASS, no icon written");
    const uint16_t lone[] = {'t', 0xD800, 0};
    check(tspi_phoneGetIcon(BASE, lone, &icon) == H_PHONEERR_INVALDEVICECLASS && icon == (HICON)0x5A5A,
          "GetIcon: an unpaired surrogate is INVALDEVICECLASS");
    const uint16_t empty[] = {0};
    check(tspi_phoneGetIcon(BASE, empty, &icon) == 0 && icon == NULL, "GetIcon: the empty class is the phone itself");
}

/* ---- an open phone: null pointers, ids past the caps, small structures ---------- */

static int display_is_blank(HDRVPHONE hd) {
    uint8_t buf[256];
    if (tspi_phoneGetDisplay(hd, tapi_buffer(buf, sizeof buf)) != 0) return 0;
    DWORD size = u32_at(buf, 16), off = u32_at(buf, 20);
    if (size != 33 * 2) return 0;
    for (DWORD i = 0; i < 32; i++) {
        uint16_t unit; memcpy(&unit, buf + off + 2 * i, 2);
        if (unit != ' ') return 0;
    }
    return 1;
}

static void null_pointers(HDRVPHONE hd) {
    DWORD a = SENT, b = SENT, id;
    const LONG P = H_PHONEERR_INVALPOINTER;
    uint16_t text[64];
    check(tspi_phoneGetButtonInfo(hd, 1, NULL) == P, "GetButtonInfo: null lpButtonInfo");
    check(tspi_phoneGetData(hd, 0, NULL, 4) == P, "GetData: null lpData with dwSize 4");
    check(tspi_phoneGetData(hd, 0, NULL, 0xFFFFFFFFu) == P, "GetData: null lpData with dwSize 0xFFFFFFFF");
    check(tspi_phoneGetData(hd, 0, NULL, 0) == 0, "GetData: null lpData with dwSize 0 copies nothing: success");
    check(tspi_phoneGetDisplay(hd, NULL) == P, "GetDisplay: null lpDisplay");
    check(tspi_phoneGetGain(hd, H_PHONEHOOKSWITCHDEV_HANDSET, NULL) == P, "GetGain: null lpdwGain");
    check(tspi_phoneGetVolume(hd, H_PHONEHOOKSWITCHDEV_HANDSET, NULL) == P, "GetVolume: null lpdwVolume");
    check(tspi_phoneGetHookSwitch(hd, NULL) == P, "GetHookSwitch: null lpdwHookSwitchDevs");
    check(tspi_phoneGetLamp(hd, 12, NULL) == P, "GetLamp: null lpdwLampMode");
    check(tspi_phoneGetRing(hd, NULL, &b) == P && b == SENT, "GetRing: null lpdwRingMode, lpdwVolume untouched");
    check(tspi_phoneGetRing(hd, &a, NULL) == P && a == SENT, "GetRing: null lpdwVolume, lpdwRingMode untouched");
    check(tspi_phoneGetRing(hd, NULL, NULL) == P, "GetRing: both null");
    check(tspi_phoneGetStatus(hd, NULL) == P, "GetStatus: null lpPhoneStatus");
    uint8_t buf[256];
    utf16(text, "tsp-rs/mock");
    check(tspi_phoneGetID(hd, NULL, text, NULL) == P, "GetID: null lpDeviceID");
    check(tspi_phoneGetID(hd, claimed(buf, sizeof buf, sizeof buf), NULL, NULL) == P && untouched(buf, 4, sizeof buf),
          "GetID: null lpszDeviceClass is INVALPOINTER, nothing written");

    id = next_id++;
    check(refused(tspi_phoneSetButtonInfo(id, hd, 12, NULL), P, id), "SetButtonInfo: null lpButtonInfo, no completion");
    id = next_id++;
    check(refused(tspi_phoneSetData(id, hd, 0, NULL, 5), P, id), "SetData: null lpData with dwSize 5, no completion");
    id = next_id++;
    check(refused(tspi_phoneSetData(id, hd, 0, NULL, 0xFFFFFFFFu), P, id), "SetData: null lpData with dwSize 0xFFFFFFFF, no completion");
    id = next_id++;
    check(accepted(tspi_phoneSetData(id, hd, 0, NULL, 0), id, 0), "SetData: null lpData with dwSize 0 is no data: accepted");
    id = next_id++;
    check(refused(tspi_phoneDevSpecific(id, hd, NULL, 7), P, id), "DevSpecific: null lpParams with dwSize 7, no completion");
    id = next_id++;
    check(refused(tspi_phoneDevSpecific(id, hd, NULL, 0xFFFFFFFFu), P, id), "DevSpecific: null lpParams with dwSize 0xFFFFFFFF, no completion");
    id = next_id++;
    check(driver_refused(tspi_phoneDevSpecific(id, hd, NULL, 0), id, H_PHONEERR_INVALPARAM),
          "DevSpecific: null lpParams with dwSize 0 reaches the driver as an empty command (the mock's INVALPARAM, no completion)");
    id = next_id++;
    check(refused(tspi_phoneSetDisplay(id, hd, 0, 0, NULL, 12), P, id), "SetDisplay: null lpsDisplay with dwSize 12, no completion");
    id = next_id++;
    check(refused(tspi_phoneSetDisplay(id, hd, 0, 0, NULL, 0), P, id), "SetDisplay: null lpsDisplay with dwSize 0, no completion");
    check(display_is_blank(hd), "the display is still blank");
}

static void ids_past_the_caps(HDRVPHONE hd) {
    DWORD a, id;
    uint8_t buf[512];
    uint8_t info[64];
    claimed(info, sizeof info, sizeof info);
    memset(info + 4, 0, sizeof info - 4);
    DWORD function = 4; memcpy(info + 16, &function, 4);

    const DWORD buttons[] = {14, 15, 0x80000000u, 0xFFFFFFFFu};
    for (size_t i = 0; i < sizeof buttons / sizeof buttons[0]; i++) {
        DWORD b = buttons[i];
        CHECKF(tspi_phoneGetButtonInfo(hd, b, claimed(buf, sizeof buf, sizeof buf)) == H_PHONEERR_INVALBUTTONLAMPID && untouched(buf, 4, sizeof buf),
               "GetButtonInfo(%u): INVALBUTTONLAMPID, nothing written", (unsigned)b);
        a = SENT;
        CHECKF(tspi_phoneGetLamp(hd, b, &a) == H_PHONEERR_INVALBUTTONLAMPID && a == SENT, "GetLamp(%u): INVALBUTTONLAMPID, nothing written", (unsigned)b);
        id = next_id++;
        CHECKF(refused(tspi_phoneSetLamp(id, hd, b, H_PHONELAMPMODE_OFF), H_PHONEERR_INVALBUTTONLAMPID, id), "SetLamp(%u): INVALBUTTONLAMPID, no completion", (unsigned)b);
        id = next_id++;
        CHECKF(refused(tspi_phoneSetButtonInfo(id, hd, b, (void *)info), H_PHONEERR_INVALBUTTONLAMPID, id), "SetButtonInfo(%u): INVALBUTTONLAMPID, no completion", (unsigned)b);
    }
    const DWORD modes[] = {0, H_PHONELAMPMODE_OFF | H_PHONELAMPMODE_FLASH, 0x80000000u, 0xFFFFFFFFu};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        id = next_id++;
        CHECKF(refused(tspi_phoneSetLamp(id, hd, 12, modes[i]), H_PHONEERR_INVALLAMPMODE, id), "SetLamp(12, 0x%08X): INVALLAMPMODE, no completion", (unsigned)modes[i]);
    }

    const DWORD data_ids[] = {4, 5, 0x80000000u, 0xFFFFFFFFu};
    for (size_t i = 0; i < sizeof data_ids / sizeof data_ids[0]; i++) {
        memset(buf, SENT_BYTE, sizeof buf);
        CHECKF(tspi_phoneGetData(hd, data_ids[i], buf, 16) == H_PHONEERR_INVALDATAID && untouched(buf, 0, sizeof buf),
               "GetData(%u): INVALDATAID, nothing written", (unsigned)data_ids[i]);
        id = next_id++;
        CHECKF(refused(tspi_phoneSetData(id, hd, data_ids[i], "x", 1), H_PHONEERR_INVALDATAID, id), "SetData(%u): INVALDATAID, no completion", (unsigned)data_ids[i]);
    }
    /* Sizes past the area: SetData is refused before anything is copied; GetData
     * reads the area and leaves the rest of TAPI's buffer as it was. */
    static uint8_t big[4096];
    id = next_id++;
    check(refused(tspi_phoneSetData(id, hd, 0, big, sizeof big), H_PHONEERR_OPERATIONFAILED, id), "SetData of 4096 bytes into a 256-byte area: OPERATIONFAILED, no completion");
    memset(buf, SENT_BYTE, sizeof buf);
    check(tspi_phoneGetData(hd, 0, buf, sizeof buf) == 0 && untouched(buf, 256, sizeof buf), "GetData with 512 bytes of a 256-byte area: nothing past the area");

    const DWORD devices[] = {0, H_PHONEHOOKSWITCHDEV_SPEAKER, X_PHONEHOOKSWITCHDEV_HEADSET, 3, 0x10, 0x80000000u, 0xFFFFFFFFu};
    for (size_t i = 0; i < sizeof devices / sizeof devices[0]; i++) {
        DWORD d = devices[i];
        a = SENT;
        CHECKF(tspi_phoneGetGain(hd, d, &a) == H_PHONEERR_INVALHOOKSWITCHDEV && a == SENT, "GetGain(0x%X): INVALHOOKSWITCHDEV, nothing written", (unsigned)d);
        CHECKF(tspi_phoneGetVolume(hd, d, &a) == H_PHONEERR_INVALHOOKSWITCHDEV && a == SENT, "GetVolume(0x%X): INVALHOOKSWITCHDEV, nothing written", (unsigned)d);
        id = next_id++;
        CHECKF(refused(tspi_phoneSetGain(id, hd, d, 1), H_PHONEERR_INVALHOOKSWITCHDEV, id), "SetGain(0x%X): INVALHOOKSWITCHDEV, no completion", (unsigned)d);
        id = next_id++;
        CHECKF(refused(tspi_phoneSetVolume(id, hd, d, 1), H_PHONEERR_INVALHOOKSWITCHDEV, id), "SetVolume(0x%X): INVALHOOKSWITCHDEV, no completion", (unsigned)d);
        if (d == 3) continue; /* handset + speaker: a set of devices is what SetHookSwitch takes */
        id = next_id++;
        CHECKF(refused(tspi_phoneSetHookSwitch(id, hd, d, H_PHONEHOOKSWITCHMODE_ONHOOK), H_PHONEERR_INVALHOOKSWITCHDEV, id),
               "SetHookSwitch(0x%X, onhook): INVALHOOKSWITCHDEV, no completion", (unsigned)d);
    }
    const DWORD hook_modes[] = {0, X_PHONEHOOKSWITCHMODE_UNKNOWN, H_PHONEHOOKSWITCHMODE_MIC | H_PHONEHOOKSWITCHMODE_SPEAKER, 0x80000000u, 0xFFFFFFFFu};
    for (size_t i = 0; i < sizeof hook_modes / sizeof hook_modes[0]; i++) {
        id = next_id++;
        CHECKF(refused(tspi_phoneSetHookSwitch(id, hd, H_PHONEHOOKSWITCHDEV_HANDSET, hook_modes[i]), H_PHONEERR_INVALHOOKSWITCHMODE, id),
               "SetHookSwitch(handset, 0x%08X): INVALHOOKSWITCHMODE, no completion", (unsigned)hook_modes[i]);
    }

    const DWORD rings[] = {4, 0x80000000u, 0xFFFFFFFFu};
    for (size_t i = 0; i < sizeof rings / sizeof rings[0]; i++) {
        id = next_id++;
        CHECKF(refused(tspi_phoneSetRing(id, hd, rings[i], 0), H_PHONEERR_INVALRINGMODE, id), "SetRing(0x%08X): INVALRINGMODE, no completion", (unsigned)rings[i]);
    }
    DWORD mode = SENT, volume = SENT;
    id = next_id++;
    check(accepted(tspi_phoneSetRing(id, hd, 0, 0xFFFFFFFFu), id, 0) && tspi_phoneGetRing(hd, &mode, &volume) == 0 && mode == 0 && volume == 0xFFFF,
          "SetRing volume 0xFFFFFFFF is clamped to 0xFFFF");

    uint16_t text[8];
    utf16(text, "Hi");
    const struct { DWORD row, column; } places[] = {{2, 0}, {0, 16}, {0xFFFFFFFFu, 0}, {0, 0xFFFFFFFFu}, {0xFFFFFFFFu, 0xFFFFFFFFu}};
    for (size_t i = 0; i < sizeof places / sizeof places[0]; i++) {
        id = next_id++;
        CHECKF(refused(tspi_phoneSetDisplay(id, hd, places[i].row, places[i].column, text, 6), H_PHONEERR_INVALPARAM, id),
               "SetDisplay at (%u, %u): INVALPARAM, no completion", (unsigned)places[i].row, (unsigned)places[i].column);
    }

    check(tspi_phoneSetStatusMessages(hd, 0xFFFFFFFFu, 0, 0) == H_PHONEERR_INVALPHONESTATE, "SetStatusMessages: every PHONESTATE bit is INVALPHONESTATE");
    check(tspi_phoneSetStatusMessages(hd, 0, 0xFFFFFFFFu, 3) == X_PHONEERR_INVALBUTTONMODE, "SetStatusMessages: every button mode bit is INVALBUTTONMODE");
    check(tspi_phoneSetStatusMessages(hd, 0, H_PHONEBUTTONMODE_KEYPAD, 0xFFFFFFFFu) == X_PHONEERR_INVALBUTTONSTATE, "SetStatusMessages: every button state bit is INVALBUTTONSTATE");
    check(tspi_phoneSelectExtVersion(hd, 0xFFFFFFFFu) == H_PHONEERR_INCOMPATIBLEEXTVERSION, "SelectExtVersion(0xFFFFFFFF): INCOMPATIBLEEXTVERSION");
}

static void small_structures(HDRVPHONE hd) {
    uint8_t buf[512];
    uint16_t text[16];
    utf16(text, "tsp-rs/mock");
    const DWORD status[] = {0, 4, 100, 103};
    for (size_t i = 0; i < sizeof status / sizeof status[0]; i++)
        CHECKF(tspi_phoneGetStatus(hd, claimed(buf, sizeof buf, status[i])) == H_PHONEERR_STRUCTURETOOSMALL && untouched(buf, 4, sizeof buf),
               "GetStatus, dwTotalSize %u: STRUCTURETOOSMALL, nothing written", (unsigned)status[i]);
    check(tspi_phoneGetStatus(hd, claimed(buf, sizeof buf, 104)) == 0 && u32_at(buf, 8) == 104 && untouched(buf, 104, sizeof buf),
          "GetStatus, exactly the fixed part: success, nothing past dwTotalSize");
    const DWORD button[] = {0, 4, 36, 39};
    for (size_t i = 0; i < sizeof button / sizeof button[0]; i++)
        CHECKF(tspi_phoneGetButtonInfo(hd, 1, claimed(buf, sizeof buf, button[i])) == H_PHONEERR_STRUCTURETOOSMALL && untouched(buf, 4, sizeof buf),
               "GetButtonInfo, dwTotalSize %u: STRUCTURETOOSMALL, nothing written", (unsigned)button[i]);
    check(tspi_phoneGetButtonInfo(hd, 1, claimed(buf, sizeof buf, 40)) == 0 && u32_at(buf, 8) == 40 && untouched(buf, 40, sizeof buf),
          "GetButtonInfo, exactly the fixed part: success, nothing past dwTotalSize");
    const DWORD varstring[] = {0, 4, 23};
    for (size_t i = 0; i < sizeof varstring / sizeof varstring[0]; i++) {
        CHECKF(tspi_phoneGetDisplay(hd, claimed(buf, sizeof buf, varstring[i])) == H_PHONEERR_STRUCTURETOOSMALL && untouched(buf, 4, sizeof buf),
               "GetDisplay, dwTotalSize %u: STRUCTURETOOSMALL, nothing written", (unsigned)varstring[i]);
        CHECKF(tspi_phoneGetID(hd, claimed(buf, sizeof buf, varstring[i]), text, NULL) == H_PHONEERR_STRUCTURETOOSMALL && untouched(buf, 4, sizeof buf),
               "GetID, dwTotalSize %u: STRUCTURETOOSMALL, nothing written", (unsigned)varstring[i]);
    }
    check(tspi_phoneGetDisplay(hd, claimed(buf, sizeof buf, 24)) == 0 && u32_at(buf, 8) == 24 && untouched(buf, 24, sizeof buf),
          "GetDisplay, exactly the fixed part: success, nothing past dwTotalSize");
    check(tspi_phoneGetDisplay(hd, claimed(buf, sizeof buf, 80)) == 0 && u32_at(buf, 8) <= 80 && untouched(buf, 80, sizeof buf),
          "GetDisplay, 80 bytes (the text needs 90): nothing past dwTotalSize");
    check(tspi_phoneGetID(hd, claimed(buf, sizeof buf, 24), text, NULL) == 0 && u32_at(buf, 8) == 24 && untouched(buf, 24, sizeof buf),
          "GetID, exactly the fixed part: success, nothing past dwTotalSize");

    static uint16_t long_class[2001];
    for (int i = 0; i < 2000; i++) long_class[i] = 'a';
    long_class[2000] = 0;
    check(tspi_phoneGetID(hd, claimed(buf, sizeof buf, sizeof buf), long_class, NULL) == H_PHONEERR_INVALDEVICECLASS && untouched(buf, 4, sizeof buf),
          "GetID: a 2000-unit class is INVALDEVICECLASS, nothing written");
    const uint16_t lone[] = {'t', 0xDC00, 0};
    check(tspi_phoneGetID(hd, claimed(buf, sizeof buf, sizeof buf), lone, NULL) == H_PHONEERR_INVALDEVICECLASS && untouched(buf, 4, sizeof buf),
          "GetID: an unpaired surrogate is INVALDEVICECLASS, nothing written");
}

/* ---- PHONEBUTTONINFO passed in ---------------------------------------------------- */

/* 128 bytes: a PHONEBUTTONINFO claiming `total` bytes, feature button, function 4,
 * the text "Hold" at 40 (10 bytes), no dev-specific part; then every size/offset
 * pair as given. Past `total`, valid UTF-16 'Z's ending with a NUL: a reader that
 * went past dwTotalSize would find a good label there. */
static uint8_t info[128];
static void *button_info(DWORD total, DWORD text_size, DWORD text_off, DWORD dev_size, DWORD dev_off) {
    memset(info, 0, sizeof info);
    for (size_t i = 40; i + 2 < sizeof info; i += 2) { info[i] = 'Z'; info[i + 1] = 0; }
    memcpy(info, &total, 4);
    DWORD mode = H_PHONEBUTTONMODE_FEATURE, function = 4;
    memcpy(info + 12, &mode, 4); memcpy(info + 16, &function, 4);
    memcpy(info + 20, &text_size, 4); memcpy(info + 24, &text_off, 4);
    memcpy(info + 28, &dev_size, 4); memcpy(info + 32, &dev_off, 4);
    uint16_t hold[5]; utf16(hold, "Hold");
    if (total >= 50) memcpy(info + 40, hold, 10);
    return info;
}

static int label_is(HDRVPHONE hd, DWORD button, const char *expected) {
    uint8_t buf[256];
    if (tspi_phoneGetButtonInfo(hd, button, tapi_buffer(buf, sizeof buf)) != 0) return 0;
    DWORD size = u32_at(buf, 20), off = u32_at(buf, 24);
    size_t n = strlen(expected);
    if (n == 0) return size == 0; /* no label: no member */
    if (size != (n + 1) * 2 || off + size > sizeof buf) return 0;
    for (size_t i = 0; i <= n; i++) {
        uint16_t unit; memcpy(&unit, buf + off + 2 * i, 2);
        if (unit != (uint8_t)expected[i]) return 0;
    }
    return 1;
}

static void set_button_info(HDRVPHONE hd) {
    DWORD id = next_id++;
    check(accepted(tspi_phoneSetButtonInfo(id, hd, 12, button_info(64, 10, 40, 0, 0)), id, 0) && label_is(hd, 12, "Hold"),
          "SetButtonInfo: a good PHONEBUTTONINFO is accepted (the baseline)");
    const DWORD totals[] = {0, 4, 36, 39};
    for (size_t i = 0; i < sizeof totals / sizeof totals[0]; i++) {
        id = next_id++;
        CHECKF(refused(tspi_phoneSetButtonInfo(id, hd, 12, button_info(totals[i], 0, 0, 0, 0)), H_PHONEERR_STRUCTURETOOSMALL, id),
               "SetButtonInfo, dwTotalSize %u (below the 40-byte fixed part): STRUCTURETOOSMALL, no completion", (unsigned)totals[i]);
    }
    const struct { DWORD text_size, text_off, dev_size, dev_off; const char *what; } bad[] = {
        {0x20, 0xFFFFFFF0u, 0, 0, "text: offset + size overflows a DWORD"},
        {2, 0xFFFFFFFFu, 0, 0, "text: offset 0xFFFFFFFF"},
        {0xFFFFFFFFu, 40, 0, 0, "text: size 0xFFFFFFFF"},
        {0xFFFFFFFEu, 40, 0, 0, "text: size 0xFFFFFFFE"},
        {0x7FFFFFFEu, 0x7FFFFFFEu, 0, 0, "text: huge offset and size, no overflow"},
        {10, 60, 0, 0, "text: ends past dwTotalSize (64)"},
        {2, 64, 0, 0, "text: starts at dwTotalSize"},
        {66, 0, 0, 0, "text: from 0, 66 bytes of a 64-byte structure"},
        {0, 0, 0x20, 0xFFFFFFF0u, "dev-specific: offset + size overflows a DWORD"},
        {0, 0, 0xFFFFFFFFu, 40, "dev-specific: size 0xFFFFFFFF"},
        {0, 0, 16, 56, "dev-specific: ends past dwTotalSize (64)"},
        {10, 40, 1, 64, "dev-specific past dwTotalSize beside a good text"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        id = next_id++;
        CHECKF(refused(tspi_phoneSetButtonInfo(id, hd, 12, button_info(64, bad[i].text_size, bad[i].text_off, bad[i].dev_size, bad[i].dev_off)),
                       H_PHONEERR_INVALPARAM, id),
               "SetButtonInfo, %s: INVALPARAM, no completion", bad[i].what);
    }
    id = next_id++;
    check(refused(tspi_phoneSetButtonInfo(id, hd, 12, button_info(64, 3, 40, 0, 0)), H_PHONEERR_INVALPARAM, id),
          "SetButtonInfo, text of an odd size: INVALPARAM, no completion");
    button_info(64, 10, 40, 0, 0);
    DWORD function = 0xFFFFFFFFu; memcpy(info + 16, &function, 4);
    id = next_id++;
    check(refused(tspi_phoneSetButtonInfo(id, hd, 12, (void *)info), H_PHONEERR_INVALPARAM, id),
          "SetButtonInfo, function 0xFFFFFFFF: INVALPARAM, no completion");
    check(label_is(hd, 12, "Hold"), "after every refusal the label is still \"Hold\"");

    /* Tolerant readings (reference §4.1 rule 4: size 0 means no member, whatever
     * the offset; a member anywhere inside dwTotalSize is readable). */
    id = next_id++;
    check(accepted(tspi_phoneSetButtonInfo(id, hd, 12, button_info(64, 0, 0xFFFFFFFFu, 0, 0xFFFFFFFFu)), id, 0) && label_is(hd, 12, ""),
          "SetButtonInfo, size 0 with offset 0xFFFFFFFF: no member, accepted (no label)");
    uint16_t ok[5]; utf16(ok, "Redo");
    button_info(64, 10, 54, 0, 0);
    memcpy(info + 54, ok, 10);
    id = next_id++;
    check(accepted(tspi_phoneSetButtonInfo(id, hd, 12, (void *)info), id, 0) && label_is(hd, 12, "Redo"),
          "SetButtonInfo, text ending exactly at dwTotalSize: accepted");
}

/* ---- SetDisplay strings ---------------------------------------------------------- */

static void set_display_strings(HDRVPHONE hd) {
    uint16_t text[16];
    utf16(text, "ABCDEFGHIJ");
    const struct { DWORD size; const char *what; } bad[] = {
        {0, "dwSize 0 (no NUL inside)"},
        {1, "dwSize 1"},
        {7, "an odd dwSize"},
        {21, "an odd dwSize with the NUL inside"},
        {6, "no NUL inside dwSize"},
        {20, "no NUL inside dwSize, the NUL just past it"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        DWORD id = next_id++;
        CHECKF(refused(tspi_phoneSetDisplay(id, hd, 0, 0, text, bad[i].size), H_PHONEERR_INVALPARAM, id),
               "SetDisplay, %s: INVALPARAM, no completion", bad[i].what);
    }
    check(display_is_blank(hd), "the display is still blank");
}

/* ---- PnP: TSPI_providerCreatePhoneDevice --------------------------------------- */

static void create_phone_device(HDRVPHONE hd) {
    const DWORD_PTR temps[] = {0, 1, 0xFFFFFFFFu, (DWORD_PTR)UINTPTR_MAX};
    for (size_t i = 0; i < sizeof temps / sizeof temps[0]; i++)
        CHECKF(tspi_providerCreatePhoneDevice(temps[i], BASE + 5) == H_PHONEERR_BADDEVICEID,
               "providerCreatePhoneDevice: made-up temp id %s is BADDEVICEID", hex_handle((HDRVPHONE)temps[i]));
    int mark = event_count;
    DWORD id = next_id++;
    check(tspi_phoneDevSpecific(id, hd, "arrive", 6) == (LONG)id, "mock command: a new phone arrives");
    int i = wait_event(mark, H_PHONE_CREATE);
    check(i >= 0, "H_PHONE_CREATE");
    DWORD_PTR temp = i >= 0 ? event_log[i].p2 : 0;
    check(tspi_providerCreatePhoneDevice(temp + 1, BASE + 5) == H_PHONEERR_BADDEVICEID, "providerCreatePhoneDevice: temp id + 1 is BADDEVICEID");
    check(tspi_providerCreatePhoneDevice(temp, H_INITIALIZE_NEGOTIATION) == H_PHONEERR_BADDEVICEID,
          "providerCreatePhoneDevice: device id INITIALIZE_NEGOTIATION is BADDEVICEID");
    check(tspi_providerCreatePhoneDevice(temp, BASE) == H_PHONEERR_BADDEVICEID, "providerCreatePhoneDevice: an id in use is BADDEVICEID");
    check(tspi_providerCreatePhoneDevice(temp, BASE + 5) == 0, "the refusals kept the arrival: it binds to BASE + 5");
    check(tspi_providerCreatePhoneDevice(temp, BASE + 6) == H_PHONEERR_BADDEVICEID, "a temp id binds once");
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: hostile LIBRARY\n"); return 2; }
    load(argv[1]);
    {
        library_t lib = open_library(argv[1]);
        RESOLVE(tspi_providerUIIdentify, "TSPI_providerUIIdentify");
        RESOLVE(tspi_providerGenericDialogData, "TSPI_providerGenericDialogData");
        RESOLVE(tspi_providerConfig, "TSPI_providerConfig");
        RESOLVE(tspi_providerInstall, "TSPI_providerInstall");
        RESOLVE(tspi_providerRemove, "TSPI_providerRemove");
        RESOLVE(tuispi_providerInstall, "TUISPI_providerInstall");
        RESOLVE(tuispi_providerRemove, "TUISPI_providerRemove");
        RESOLVE(tuispi_phoneConfigDialog, "TUISPI_phoneConfigDialog");
    }

    provider_functions_before_init();
    provider_functions_without_state();
    start();
    devices_past_the_range("initialised");
    device_functions();

    HDRVPHONE hd = NULL;
    check(tspi_phoneOpen(BASE, (HTAPIPHONE)0x81, &hd, V31, on_event) == 0 && hd != NULL, "TSPI_phoneOpen(BASE)");
    HDRVPHONE other = made_up(0x5A5A5A5A);
    check(tspi_phoneOpen(BASE, (HTAPIPHONE)0x82, &other, V31, on_event) == H_PHONEERR_ALLOCATED && other == made_up(0x5A5A5A5A),
          "a second open of the device: ALLOCATED, no handle written");
    null_pointers(hd);
    ids_past_the_caps(hd);
    small_structures(hd);
    set_button_info(hd);
    set_display_strings(hd);
    made_up_handles(hd);

    /* Stale handles: after close, after a new open, after shutdown and re-init. */
    check(tspi_phoneClose(hd) == 0, "TSPI_phoneClose");
    handle_refused_everywhere(hd, "a closed");
    HDRVPHONE hd2 = NULL;
    check(tspi_phoneOpen(BASE, (HTAPIPHONE)0x83, &hd2, V31, on_event) == 0 && hd2 != NULL && hd2 != hd, "open again: a new handle");
    handle_refused_everywhere(hd, "a closed (its device open again)");
    DWORD a = SENT;
    check(tspi_phoneGetHookSwitch(hd2, &a) == 0 && a != SENT, "the new handle works");
    check(tspi_providerShutdown(V31, 7) == 0, "TSPI_providerShutdown (closes the phone)");
    handle_refused_everywhere(hd2, "after shutdown, a");
    devices_past_the_range("after shutdown");
    device_refused_everywhere(BASE, "after shutdown, the former");

    DWORD v = 0, lines = 0, phones = 0;
    check(tspi_lineNegotiateTSPIVersion(H_INITIALIZE_NEGOTIATION, V20, V31, &v) == 0 &&
          tspi_providerEnumDevices(7, &lines, &phones, (HPROVIDER)0x1234, NULL, on_event) == 0 &&
          tspi_providerInit(V31, 7, 0, BASE, 0, (DWORD_PTR)0xDEAD000000000000ull | phones, on_completion, NULL) == 0,
          "re-init; a null lpdwTSPIOptions is accepted (a 2.0 addition TAPI may leave out), and dwNumPhones is read as "
          "the DWORD older headers declare (garbage above it is ignored)");
    handle_refused_everywhere(hd2, "after re-init, a pre-shutdown");
    handle_refused_everywhere(hd, "after re-init, a closed");
    HDRVPHONE hd3 = NULL;
    check(tspi_phoneOpen(BASE, (HTAPIPHONE)0x84, &hd3, V31, on_event) == 0 && hd3 != hd2 && hd3 != hd, "open after re-init: a new handle");
    handle_refused_everywhere(hd2, "after re-init and a new open, a pre-shutdown");
    create_phone_device(hd3);

    check(overlaps == 0, "callbacks never overlapped");
    check(tspi_phoneClose(hd3) == 0 && tspi_providerShutdown(V31, 7) == 0, "close and shut down");
    check(tspi_providerShutdown(V31, 7) == 0, "an unpaired shutdown: success, nothing to do");
    return finish();
}
